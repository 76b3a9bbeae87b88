/** Helpers of the zip-*.test.ts files: archives assembled from the layout builders, Python, errors. */
import { spawnSync } from "node:child_process";
import { expect } from "vitest";
import { QcapError } from "../src/errors.js";
import { crc32 } from "../src/hash/crc32.js";
import { memorySink } from "../src/io/sink.js";
import { computeLayout, dataDescriptor, localHeader } from "../src/zip/layout.js";
import { ZipWriter } from "../src/zip/writer.js";

export interface TestEntry {
  name: string;
  data: Uint8Array;
  mode?: number;
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * An archive assembled from the layout builders alone (no writer, no name checks): lets tests
 * craft archives the writer refuses to make, and checks the writer against an independent path.
 */
export function assemble(entries: TestEntry[]): Uint8Array {
  const specs = entries.map((e) => ({
    name: e.name,
    size: e.data.length,
    crc32: crc32(e.data),
    mode: e.mode ?? 0o644,
  }));
  const layout = computeLayout(specs);
  const parts: Uint8Array[] = [];
  entries.forEach((e, i) => {
    parts.push(localHeader(e.name), e.data, dataDescriptor(specs[i]?.crc32 ?? 0, e.data.length));
  });
  parts.push(layout.centralDirectory, layout.end);
  const out = concat(parts);
  expect(out.length).toBe(layout.totalSize);
  return out;
}

/** The same archive through ZipWriter into memory. */
export async function writeArchive(entries: TestEntry[]): Promise<Uint8Array> {
  const sink = memorySink();
  const w = new ZipWriter(sink);
  for (const e of entries) await w.addEntry(e.name, e.mode ?? 0o644, e.data);
  await w.finish();
  return sink.bytes();
}

/** Runs a Python 3 script with `args`; returns its stdout parsed as JSON. */
export function python(script: string, ...args: string[]): unknown {
  const r = spawnSync("python3", ["-c", script, ...args], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python3 failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export const hasCommand = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** Awaits `p` and returns the QcapError it rejects with (fails the test otherwise). */
export async function qcapError(p: Promise<unknown>): Promise<QcapError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof QcapError) return e;
    throw new Error(`expected a QcapError, got ${String(e)}`, { cause: e });
  }
  throw new Error("expected a QcapError, got success");
}

/** Same as qcapError for synchronous code. */
export function qcapErrorSync(f: () => unknown): QcapError {
  try {
    f();
  } catch (e) {
    if (e instanceof QcapError) return e;
    throw new Error(`expected a QcapError, got ${String(e)}`, { cause: e });
  }
  throw new Error("expected a QcapError, got success");
}

/** Byte equality without vitest's slow element-by-element diff of large typed arrays. */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array | undefined): void {
  expect(expected).toBeDefined();
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(
    (expected as Uint8Array).buffer,
    (expected as Uint8Array).byteOffset,
    (expected as Uint8Array).byteLength,
  );
  if (!a.equals(b)) expect(hex(actual)).toBe(hex(expected as Uint8Array));
}

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Peak resident set size of this process so far, in MiB. */
export const maxRssMiB = (): number => Math.round(process.resourceUsage().maxRSS / 1024);
