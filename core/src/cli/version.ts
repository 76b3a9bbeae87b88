/**
 * `qcap --version`: the CLI's version, the engines this process would use (native kernels or the
 * portable ones, and how many threads), and the capsule format versions it reads and writes.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { chunkCipherImplementation } from "../crypto/stream.js";
import { blake3Implementation } from "../hash/blake3.js";
import { crc32Implementation } from "../hash/crc32.js";
import { nativeThreads, qcapNative } from "../native.js";
import { CAPSULE_FORMATS } from "./formats.js";
import { jsonDocument } from "./json.js";

export interface VersionInfo {
  version: string;
  engine: "native" | "portable";
  /** Which implementation each primitive uses. */
  implementations: { stream: string; blake3: string; crc32: string };
  /** Threads of the native kernels (calling thread included), or null without them. */
  nativeThreads: number | null;
  /** Worker threads of the block engine for large entries (0: disabled by QCAP_THREADS=0). */
  workerThreads: number;
  formats: { reads: number[]; writes: number };
  node: string;
  platform: string;
}

/** The package's version, from the package.json shipped beside dist/. */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

/** As withBlockEngine (parallel-node.ts) chooses: QCAP_THREADS, else one less than the cores, 1 to 3. */
function blockEngineThreads(): number {
  const env = process.env.QCAP_THREADS;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    return n > 0 ? Math.floor(n) : 0;
  }
  return Math.max(1, Math.min(3, availableParallelism() - 1));
}

export function versionInfo(): VersionInfo {
  return {
    version: packageVersion(),
    engine: qcapNative !== undefined && chunkCipherImplementation === "native" ? "native" : "portable",
    implementations: {
      stream: chunkCipherImplementation,
      blake3: blake3Implementation,
      crc32: crc32Implementation(),
    },
    nativeThreads: qcapNative !== undefined ? nativeThreads() : null,
    workerThreads: blockEngineThreads(),
    formats: { reads: [...CAPSULE_FORMATS.reads], writes: CAPSULE_FORMATS.writes },
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export function printVersion(json: boolean): void {
  const v = versionInfo();
  // Not output.ts: its imports would cost start-up time.
  if (json) return void process.stdout.write(`${JSON.stringify(jsonDocument("version", v), null, 2)}\n`);
  const i = v.implementations;
  const lines = [
    `qcap ${v.version}`,
    v.engine === "native"
      ? `engine: native (Rust kernels: ChaCha20-Poly1305, BLAKE3, CRC-32; ${v.nativeThreads} threads)`
      : `engine: portable (STREAM ${i.stream}, BLAKE3 ${i.blake3}, CRC-32 ${i.crc32}; QCAP_NATIVE=0 or no native addon)`,
    `worker threads: ${v.workerThreads === 0 ? "none (QCAP_THREADS=0)" : v.workerThreads} (block engine for large entries${v.engine === "native" ? " the native kernels do not take" : ""})`,
    `capsule format: reads ${v.formats.reads.join(", ")}, writes ${v.formats.writes}`,
    `node ${v.node} on ${v.platform}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
