/**
 * `qcap --version`: the CLI's version, the engines this process would use (native kernels or the
 * portable ones, and how many threads), and the capsule format versions it reads and writes.
 */
import { readFileSync } from "node:fs";
import { chooseEngine } from "../engine/choice.js";
import { nativeThreads } from "../engine/native.js";
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

/**
 * Which implementation each primitive chose (each module picks at load, after a known-answer test).
 * Loaded only when asked for: the STREAM module's self-tests are the largest part of `--version`.
 */
async function implementations(): Promise<VersionInfo["implementations"]> {
  const [stream, b3, crc] = await Promise.all([
    import("../crypto/stream.js"),
    import("../hash/blake3.js"),
    import("../hash/crc32.js"),
  ]);
  return {
    stream: stream.chunkCipherImplementation,
    blake3: b3.blake3Implementation,
    crc32: crc.crc32Implementation(),
  };
}

export async function versionInfo(): Promise<VersionInfo> {
  const e = chooseEngine();
  const native = e.kind === "native";
  return {
    version: packageVersion(),
    engine: native ? "native" : "portable",
    implementations: await implementations(),
    nativeThreads: native ? nativeThreads() : null,
    workerThreads: e.threads,
    formats: { reads: [...CAPSULE_FORMATS.reads], writes: CAPSULE_FORMATS.writes },
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export async function printVersion(json: boolean): Promise<void> {
  // Not output.ts: its imports would cost start-up time.
  if (json) {
    process.stdout.write(`${JSON.stringify(jsonDocument("version", await versionInfo()), null, 2)}\n`);
    return;
  }
  const e = chooseEngine();
  const native = e.kind === "native";
  const workers = e.threads;
  // The native engine is named without loading the portable ones; those are listed when in use.
  const engine = native
    ? `engine: native (Rust kernels: ChaCha20-Poly1305, BLAKE3, CRC-32; ${nativeThreads()} threads)`
    : await implementations().then(
        (i) =>
          `engine: portable (STREAM ${i.stream}, BLAKE3 ${i.blake3}, CRC-32 ${i.crc32}; QCAP_NATIVE=0 or no native addon)`,
      );
  const lines = [
    `qcap ${packageVersion()}`,
    engine,
    `worker threads: ${workers === 0 ? "none (QCAP_THREADS=0)" : workers} (block engine for large entries${native ? " the native kernels do not take" : ""})`,
    `capsule format: reads ${CAPSULE_FORMATS.reads.join(", ")}, writes ${CAPSULE_FORMATS.writes}`,
    `node ${process.version} on ${process.platform}-${process.arch}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
