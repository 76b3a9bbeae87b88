/**
 * Helpers of the spec conformance tests: the `qcap` CLI as a process and a ZIP reader written from
 * SPEC §7.2 alone, so the tests check the format without the library's own reader.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const repoRoot = join(import.meta.dirname, "..", "..");
const cliPath = join(repoRoot, "core", "dist", "cli", "main.js");
export const vectorsDir = join(repoRoot, "core", "test-vectors");

export const loadVectors = <T = unknown>(name: string): T =>
  JSON.parse(readFileSync(join(vectorsDir, name), "utf8")) as T;

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "qcap-spec-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function qcap(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    input: "",
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export interface ZipEntry {
  name: string;
  crc32: number;
  size: number;
  offset: number;
  externalAttributes: number;
  /** The stored bytes, located through the local header. */
  data: Uint8Array;
}

/** The entries of a capsule in central directory order (SPEC §7.2: ZIP64 records, method 0). */
export function readZip(file: Uint8Array): ZipEntry[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const eocd64 = file.length - 98;
  if (view.getUint32(eocd64, true) !== 0x06064b50) throw new Error("no ZIP64 end record");
  const count = Number(view.getBigUint64(eocd64 + 32, true));
  let p = Number(view.getBigUint64(eocd64 + 48, true));
  const out: ZipEntry[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (let k = 0; k < count; k++) {
    if (view.getUint32(p, true) !== 0x02014b50) throw new Error("bad central directory record");
    const n = view.getUint16(p + 28, true);
    const extra = view.getUint16(p + 30, true);
    const comment = view.getUint16(p + 32, true);
    const name = decoder.decode(file.subarray(p + 46, p + 46 + n));
    const x = p + 46 + n; // ZIP64 extra: id, length, size, compressed size, offset
    const size = Number(view.getBigUint64(x + 4, true));
    const offset = Number(view.getBigUint64(x + 20, true));
    const localName = view.getUint16(offset + 26, true);
    const localExtra = view.getUint16(offset + 28, true);
    const start = offset + 30 + localName + localExtra;
    out.push({
      name,
      crc32: view.getUint32(p + 16, true),
      size,
      offset,
      externalAttributes: view.getUint32(p + 38, true),
      data: file.subarray(start, start + size),
    });
    p += 46 + n + extra + comment;
  }
  return out;
}

/** Bytes `i mod 251` (SPEC §9 `pattern`). */
export function pattern(length: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = i % 251;
  return b;
}
