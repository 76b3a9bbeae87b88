/** Shared test helpers: keys, in-memory capsules and crafted (malicious) archives. */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput, type PackInput, type PackOptions, pack } from "../src/capsule/pack.js";
import { blake3 } from "../src/hash/blake3.js";
import { crc32 } from "../src/hash/crc32.js";
import { fromHex, toHex } from "../src/hash/hex.js";
import { capsuleRoot } from "../src/integrity/merkle.js";
import { memorySink } from "../src/io/sink.js";
import { bytesSource } from "../src/io/source.js";
import { computeLayout, dataDescriptor, localHeader } from "../src/zip/layout.js";
import { ZipWriter } from "../src/zip/writer.js";

export const repoRoot = join(import.meta.dirname, "..", "..");
export const cliPath = join(repoRoot, "core", "dist", "cli", "main.js");

export function signingKey(seedByte = 1) {
  const seed = new Uint8Array(32).fill(seedByte);
  return { seed, publicKey: ed25519.getPublicKey(seed) };
}

export function pseudoRandom(length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const text = (s: string) => new TextEncoder().encode(s);

export async function packBytes(
  inputs: PackInput[],
  options: Partial<PackOptions> = {},
): Promise<Uint8Array> {
  const sink = memorySink();
  await pack(inputs, sink, { signingKey: signingKey(), ...options });
  return sink.bytes();
}

export function sampleInputs(): PackInput[] {
  return [
    bytesInput("payload/readme.txt", text("hello capsule\n")),
    bytesInput("payload/data/big.bin", pseudoRandom(3 * 65536 + 123)),
    bytesInput("payload/empty", new Uint8Array(0)),
    bytesInput("meta/stac.json", text('{"type":"Feature"}')),
  ];
}

export const openBytes = (bytes: Uint8Array) => Capsule.open(bytesSource(bytes));

/**
 * Writes a ZIP in the canonical record layout with arbitrary entries, so tests can build archives
 * that a correct packer would never produce.
 */
export async function craftZip(
  entries: { name: string; bytes: Uint8Array; mode?: number }[],
): Promise<Uint8Array> {
  const sink = memorySink();
  const w = new ZipWriter(sink);
  for (const e of entries) await w.addEntry(e.name, e.mode ?? 0o644, e.bytes);
  await w.finish();
  return sink.bytes();
}

export function tempDir(prefix = "qcap-test-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function qcap(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...opts.env },
    input: opts.input ?? "",
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Like qcap() but keeps stdout as bytes, for binary output. */
export function qcapBytes(
  args: string[],
  opts: { env?: Record<string, string> } = {},
): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    env: { ...process.env, ...opts.env },
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

export function hasCommand(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`]).status === 0;
}

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8" });
}

/**
 * Builds an archive record by record with the canonical layout functions but no validation at all,
 * for names and contents that the packer refuses to write.
 */
export function rawZip(entries: { name: string; bytes: Uint8Array; mode?: number }[]): Uint8Array {
  const specs = entries.map((e) => ({
    name: e.name,
    size: e.bytes.length,
    crc32: crc32(e.bytes),
    mode: e.mode ?? 0o644,
  }));
  const layout = computeLayout(specs);
  const parts: Uint8Array[] = [];
  entries.forEach((e, i) => {
    const spec = specs[i] as (typeof specs)[number];
    parts.push(localHeader(e.name), e.bytes, dataDescriptor(spec.crc32, spec.size));
  });
  parts.push(layout.centralDirectory, layout.end);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A capsule whose manifest is whatever the test says, correctly signed by `key`. */
export function signedCapsule(
  manifest: unknown,
  entries: { name: string; bytes: Uint8Array }[],
  key = signingKey(),
): Uint8Array {
  const m = { ...(manifest as object), issuer: toHex(key.publicKey) };
  const bytes = new TextEncoder().encode(canonicalJson(m));
  return rawZip([
    ...entries,
    { name: "manifest.json", bytes },
    { name: "signatures/manifest.ed25519", bytes: ed25519.sign(bytes, key.seed) },
  ]);
}

function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(",")}]`;
  if (x && typeof x === "object") {
    const keys = Object.keys(x).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((x as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(x);
}

/** Manifest entry fields for bytes stored unsealed in one chunk. */
export function plainEntry(name: string, bytes: Uint8Array) {
  return {
    name,
    size: bytes.length,
    mode: 420,
    crc32: crc32(bytes).toString(16).padStart(8, "0"),
    digest: toHex(blake3(bytes)),
  };
}

export function rootOf(entries: ReturnType<typeof plainEntry>[]): string {
  return toHex(
    capsuleRoot(entries.map((e) => ({ name: e.name, size: e.size, digest: fromHex(e.digest, 32) }))),
  );
}
