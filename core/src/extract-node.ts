/**
 * Writing verified entries into a folder. Everything lands in a staging folder inside the output
 * folder first and is renamed into place only when every selected entry has been verified, so a
 * failed run leaves nothing behind, and no path can leave the output folder.
 */
import { randomBytes } from "node:crypto";
import { writeSync } from "node:fs";
import { type FileHandle, lstat, mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { BLOCK_CHUNKS, type BlockEngine, type StreamKey } from "./blocks.js";
import type { Capsule } from "./capsule.js";
import { streamAad } from "./crypto/kdf.js";
import { PLAIN_CHUNK } from "./crypto/stream.js";
import { fail, QcapError } from "./errors.js";
import { forgetTemp, rememberTemp } from "./io/temp-files-node.js";
import { plainChunks } from "./read.js";
import type { EntryKeys } from "./unlock.js";

export interface ExtractItem {
  /** Entry name inside the capsule. */
  entry: string;
  /** Path relative to the output folder, `/`-separated, already validated. */
  path: string;
  mode: number;
}

export interface ExtractOptions {
  keys?: EntryKeys;
  /** Replace files that already exist in the output folder. */
  force?: boolean;
  onProgress?: (bytes: number) => void;
  /**
   * Checks and decrypts entries of at least 4 MiB a block at a time (see `createBlockEngine`), unless
   * the native kernels do it file to file (`Capsule.opensNatively`).
   */
  engine?: BlockEngine;
}

const ENGINE_MIN_BYTES = 4 * BLOCK_CHUNKS * PLAIN_CHUNK;
/** Chunks are gathered into writes of this size: one write per 64 KiB chunk costs more than the copy. */
const WRITE_BUFFER = 1 << 20;

/** The STREAM key of a payload entry of a sealed capsule (null when the entry is stored plain). */
function streamKeyOf(capsule: Capsule, name: string, keys?: EntryKeys): StreamKey | null {
  if (!capsule.sealed || !name.startsWith("payload/")) return null;
  if (!keys) return fail("decrypt", "the capsule is sealed: an identity or passphrase is needed");
  const fileKey = keys.fileKey(name);
  if (!fileKey) return fail("unauthorized", `no key for ${name}`);
  return { fileKey, aad: streamAad(keys.capsuleId, name) };
}

/**
 * Synchronous writes: a 1 MiB write into the page cache takes well under a millisecond, less than a
 * round trip through the thread pool on a busy machine; checking and decryption meanwhile go on in
 * the block engine's threads.
 */
async function writeFully(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; ) at += writeSync(fh.fd, bytes, at, bytes.length - at);
}

/** Writes the verified plaintext of `entry` to `fh`. */
async function writeEntry(capsule: Capsule, entry: string, fh: FileHandle, options: ExtractOptions) {
  const e = capsule.entry(entry);
  if (e.stored >= ENGINE_MIN_BYTES && capsule.opensNatively(entry)) {
    const key = streamKeyOf(capsule, entry, options.keys) as StreamKey;
    await capsule.openEntryNatively(entry, key, fh.fd, options.onProgress);
    return;
  }
  if (options.engine && e.stored >= ENGINE_MIN_BYTES) {
    const key = streamKeyOf(capsule, entry, options.keys);
    for await (const block of capsule.entryBlocks(entry, options.engine, key ?? undefined)) {
      await writeFully(fh, block);
      options.onProgress?.(block.length);
    }
    return;
  }
  const buf = new Uint8Array(Math.min(WRITE_BUFFER, Math.max(1, e.size)));
  let n = 0;
  for await (const bytes of plainChunks(capsule, entry, options.keys)) {
    if (n + bytes.length > buf.length) {
      await writeFully(fh, buf.subarray(0, n));
      n = 0;
    }
    if (bytes.length >= buf.length) await writeFully(fh, bytes);
    else {
      buf.set(bytes, n);
      n += bytes.length;
    }
    options.onProgress?.(bytes.length);
  }
  await writeFully(fh, buf.subarray(0, n));
}

async function isDirNoLink(path: string): Promise<boolean | null> {
  try {
    const st = await lstat(path);
    if (st.isSymbolicLink()) fail("input", `refusing to write through the symbolic link ${path}`);
    return st.isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/** Creates the parents of `rel` under `root`, refusing symlinks and non-directories on the way. */
async function ensureParents(root: string, rel: string): Promise<void> {
  const parts = rel.split("/").slice(0, -1);
  let at = root;
  for (const part of parts) {
    at = join(at, part);
    const kind = await isDirNoLink(at);
    if (kind === false) fail("input", `cannot create folder ${at}: a file is in the way`);
    if (kind === null) await mkdir(at);
  }
}

function inside(root: string, rel: string): string {
  const full = resolve(root, ...rel.split("/"));
  if (!full.startsWith(root + sep)) fail("format", `refusing to write outside the output folder: ${rel}`);
  return full;
}

export async function extract(
  capsule: Capsule,
  items: ExtractItem[],
  outDir: string,
  options: ExtractOptions = {},
) {
  const root = resolve(outDir);
  await mkdir(root, { recursive: true });
  if ((await isDirNoLink(root)) !== true) fail("input", `${outDir} is not a folder`);
  for (const item of items) {
    const target = inside(root, item.path);
    if (!options.force && (await isDirNoLink(target)) !== null) {
      fail("input", `${target} already exists (use --force to replace it)`);
    }
  }
  const staging = join(root, `.qcap-open-${randomBytes(6).toString("hex")}`);
  await mkdir(staging, { mode: 0o700 });
  rememberTemp(staging);
  try {
    const staged: string[] = [];
    for (const [n, item] of items.entries()) {
      const tmp = join(staging, String(n));
      const fh = await open(tmp, "wx", item.mode);
      try {
        await writeEntry(capsule, item.entry, fh, options);
        await fh.chmod(item.mode);
      } finally {
        await fh.close();
      }
      staged.push(tmp);
    }
    for (const [n, item] of items.entries()) {
      await ensureParents(root, item.path);
      const target = inside(root, item.path);
      if ((await isDirNoLink(target)) === true) fail("input", `${target} is a folder`);
      await mkdir(dirname(target), { recursive: true });
      await rename(staged[n] as string, target);
    }
  } catch (e) {
    if (e instanceof QcapError) throw e;
    throw new QcapError("input", `cannot write to ${outDir}: ${(e as Error).message}`, { cause: e });
  } finally {
    await rm(staging, { recursive: true, force: true });
    forgetTemp(staging);
  }
}
