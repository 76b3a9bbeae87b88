#!/usr/bin/env node
/**
 * Writes N small files of pseudo-random sizes (512 B to 4 KiB) and content into nested folders of
 * 1,000 files, the same bytes on every run: the many-small-files benchmark's input.
 *
 *   node bench/gen-files.mjs DIR N     prints {"files", "bytes", "folders"} on stdout
 *
 * File i is DIR/gNN/dNN/fNNN.bin (gNN: 100,000 files; dNN: 1,000). Sizes come from a seeded PRNG;
 * content is a slice of a fixed AES-256-CTR keystream at a PRNG-chosen offset, so files are
 * incompressible and distinct, and writing them is one open, write and close each.
 */
import { createCipheriv } from "node:crypto";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";

export const MIN_SIZE = 512;
export const MAX_SIZE = 4096;
const POOL = 8 * 1024 * 1024;
const SEED = 0x51ca9;

const pad = (n, w) => String(n).padStart(w, "0");

/** Folder and path (relative to DIR) of file `i`. */
export const folderOf = (i) => `g${pad(Math.floor(i / 100_000), 2)}/d${pad(Math.floor(i / 1000) % 100, 2)}`;
export const pathOf = (i) => `${folderOf(i)}/f${pad(i % 1000, 3)}.bin`;

/** mulberry32: a small, fast PRNG; only determinism matters here, not quality. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export function generate(dir, n) {
  const key = Buffer.alloc(32, 0x51);
  const iv = Buffer.alloc(16, 0);
  const pool = createCipheriv("aes-256-ctr", key, iv).update(Buffer.alloc(POOL));
  const next = prng(SEED);
  let bytes = 0;
  let folders = 0;
  for (let i = 0; i < n; i++) {
    if (i % 1000 === 0) {
      mkdirSync(join(dir, folderOf(i)), { recursive: true });
      folders++;
    }
    const size = MIN_SIZE + (next() % (MAX_SIZE - MIN_SIZE + 1));
    const at = next() % (POOL - size);
    const fd = openSync(join(dir, pathOf(i)), "w");
    writeSync(fd, pool, at, size);
    closeSync(fd);
    bytes += size;
  }
  return { files: n, bytes, folders };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, count] = process.argv.slice(2);
  if (!dir || !/^\d+$/.test(count ?? "") || Number(count) < 1) {
    process.stderr.write("usage: gen-files.mjs DIR N (N a positive integer)\n");
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(generate(dir, Number(count)))}\n`);
}
