/**
 * Writing one entry of a capsule being packed (SPEC §7.1): chunk by chunk on the calling thread, a
 * block at a time on a block engine, file to file with the native kernels, or from bytes already
 * sealed (a small-file batch).
 */

import {
  chunkCipher,
  chunkCipherImplementation,
  PLAIN_CHUNK,
  STORED_CHUNK,
  streamSubkey,
  TAG_BYTES,
} from "../crypto/stream.js";
import {
  BLOCK_CHUNKS,
  type BlockEngine,
  type BlockSlot,
  type FileRange,
  type StreamKey,
} from "../engine/blocks.js";
import { type Engine, inlineEngine } from "../engine/engine.js";
import { nativeThreads, type QcapNative } from "../engine/native.js";
import { nativeFailure as nativeError } from "../engine/native-errors.js";
import { fail, QcapError } from "../errors.js";
import { entryStoredSize, MODE_FILE, packedMode, storedChunkSize } from "../format/entries.js";
import type { LeafRecord } from "../format/pages.js";
import { chunkCount, TreeBuilder } from "../integrity/tree.js";
import type { ZipWriter } from "../zip/writer.js";
import type { PackInput, PackOptions } from "./pack.js";

/** What a leaf record says of an entry just written (its sealed name is added by pack). */
export type WrittenEntry = Omit<LeafRecord, "sealedName">;

/**
 * Writes whole single-chunk entries whose stored bytes, CRC-32 and digest are already known (a
 * small-file batch), with one sink write for all.
 */
export async function writeStoredEntries(
  writer: ZipWriter,
  items: readonly { input: PackInput; name: string; stored: Uint8Array; crc32: number; digest: Uint8Array }[],
): Promise<WrittenEntry[]> {
  const modes = items.map((w) => packedMode(w.input.mode ?? MODE_FILE));
  const offsets = await writer.addEntries(
    items.map((w, i) => ({ name: w.name, mode: modes[i] as number, bytes: w.stored, crc32: w.crc32 })),
  );
  return items.map((w, i) => ({
    name: w.name,
    size: w.input.size,
    mode: modes[i] as number,
    crc32: w.crc32,
    digest: w.digest,
    offset: offsets[i] as number,
    treeCrc32: 0,
  }));
}

export async function writeEntry(
  writer: ZipWriter,
  input: PackInput,
  name: string,
  sealed: boolean,
  key: StreamKey | null,
  options: PackOptions,
  scratch: Scratch,
): Promise<WrittenEntry> {
  const onProgress = options.onProgress;
  const mode = packedMode(input.mode ?? MODE_FILE);
  const offset = writer.offset;
  const chunks = chunkCount(input.size, PLAIN_CHUNK);
  const tree = new TreeBuilder(storedChunkSize(name, sealed), chunks);
  await writer.beginEntry(name, mode);
  const engine = options.engine ?? inlineEngine;
  const large = input.size >= engine.largeBytes;
  const native = large && input.openFile && writer.canWriteDirect && sealsNatively(engine);
  const blocks = large && !native ? engine.blocks() : undefined;
  if (native) {
    await writeNatively(writer, input, tree, chunks, key, engine.native as QcapNative, onProgress);
  } else if (blocks) {
    await writeBlocks(writer, input, tree, chunks, key, blocks, onProgress);
  } else {
    await writeChunks(writer, input, tree, chunks, key, scratch, onProgress);
  }
  const { crc32 } = await writer.endEntry();
  const { digest, index } = tree.finish();
  const entry: WrittenEntry = { name, size: input.size, mode, crc32, digest, offset, treeCrc32: 0 };
  if (index) entry.treeCrc32 = (await writer.addEntry(`index/${name}`, MODE_FILE, index)).crc32;
  if (entryStoredSize(name, input.size, sealed) !== (key ? input.size + 16 * chunks : input.size)) {
    fail("format", "internal: stored size mismatch");
  }
  return entry;
}

/**
 * Buffers of one `pack` call reused across its entries: with thousands of small files, new buffers
 * for every entry are most of the garbage. Grown to the largest chunk seen.
 */
export class Scratch {
  private readBuf = new Uint8Array(0);
  private sealBuf = new Uint8Array(0);
  /** For reading a whole small entry (its size and one byte more, to notice growth). */
  read(size: number): Uint8Array | undefined {
    if (size >= SCRATCH_MAX) return undefined;
    if (this.readBuf.length <= size) this.readBuf = new Uint8Array(Math.max(size + 1, 8192));
    return this.readBuf;
  }
  /** For one sealed chunk of `size` stored bytes. */
  seal(size: number): Uint8Array {
    if (this.sealBuf.length < size) this.sealBuf = new Uint8Array(Math.max(size, 8192));
    return this.sealBuf;
  }
}
const SCRATCH_MAX = 256 * 1024;

/** Seals an entry chunk by chunk on this thread. */
async function writeChunks(
  writer: ZipWriter,
  input: PackInput,
  tree: TreeBuilder,
  chunks: number,
  key: StreamKey | null,
  scratch: Scratch,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  const cipher = key ? chunkCipher(key.fileKey, key.aad) : null;
  // Reused for every chunk and entry: the sink copies (or finishes with) what it is given before
  // resolving. Grown to the largest entry seen: with many small files a 64 KiB buffer each would
  // be most of the work.
  const sealedChunk = cipher ? scratch.seal(Math.min(STORED_CHUNK, input.size + TAG_BYTES)) : null;
  let i = 0;
  const emit = async (plain: Uint8Array) => {
    const stored = cipher ? cipher.seal(i, i === chunks - 1, plain, sealedChunk as Uint8Array) : plain;
    tree.pushChunk(stored);
    await writer.write(stored);
    onProgress?.(plain.length);
    i++;
  };
  /** Plaintext length of chunk `i` (its bytes are all known to exist: `seen` never exceeds `size`). */
  const chunkLength = (k: number) => Math.min(PLAIN_CHUNK, input.size - k * PLAIN_CHUNK);
  // Pieces are cut into chunks in place; only a chunk that straddles two pieces is gathered in `stage`.
  let stage: Uint8Array | null = null;
  let staged = 0;
  let seen = 0;
  const lend = scratch.read(input.size);
  for await (const piece of lend ? input.read(lend) : input.read()) {
    seen += piece.length;
    if (seen > input.size) throw new QcapError("input", `${input.name}: changed while packing (grew)`);
    let buf = piece;
    if (staged > 0) {
      const take = Math.min(chunkLength(i) - staged, buf.length);
      (stage as Uint8Array).set(buf.subarray(0, take), staged);
      staged += take;
      buf = buf.subarray(take);
      if (staged < chunkLength(i)) continue;
      await emit((stage as Uint8Array).subarray(0, staged));
      staged = 0;
    }
    while (buf.length > 0 && buf.length >= chunkLength(i)) {
      const n = chunkLength(i);
      await emit(buf.subarray(0, n));
      buf = buf.subarray(n);
    }
    if (buf.length > 0) {
      stage ??= new Uint8Array(PLAIN_CHUNK);
      stage.set(buf);
      staged = buf.length;
    }
  }
  if (seen !== input.size)
    fail("input", `${input.name}: changed while packing (expected ${input.size} bytes, read ${seen})`);
  if (input.size === 0) await emit(new Uint8Array(0));
}

/**
 * Whether `pack` seals large local files into file sinks with the native kernels (file to file on
 * threads of their own, with no block engine needed): `@qcap/native` is loaded and its STREAM
 * engine is the one in use (and `engine` has them).
 */
export function sealsNatively(engine: Engine = inlineEngine): boolean {
  return chunkCipherImplementation === "native" && engine.native?.sealFileChunks !== undefined;
}

/** Chunks per native call (64 MiB): progress is reported between calls. */
const NATIVE_CHUNKS = 1024;
const EMPTY = new Uint8Array(0);

/** Seals a local file straight into the sink's file with the native kernels. */
async function writeNatively(
  writer: ZipWriter,
  input: PackInput,
  tree: TreeBuilder,
  chunks: number,
  key: StreamKey | null,
  na: QcapNative,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  const file = await (input.openFile as NonNullable<PackInput["openFile"]>)();
  const subkey = key ? streamSubkey(key.fileKey) : null;
  try {
    for (let first = 0; first < chunks; first += NATIVE_CHUNKS) {
      const n = Math.min(NATIVE_CHUNKS, chunks - first);
      const at = first * PLAIN_CHUNK;
      const length = Math.min(n * PLAIN_CHUNK, input.size - at);
      await writer.writeDirect(length + (key ? n * TAG_BYTES : 0), async (fd, position) => {
        const r = await na
          .sealFileChunks(
            file.fd,
            at,
            length,
            fd,
            position,
            subkey,
            key?.aad ?? EMPTY,
            first,
            chunks,
            nativeThreads(),
          )
          .catch((e: unknown) => nativeFailure(input.name, e));
        tree.pushDigests(r.digests);
        return r.crc32;
      });
      onProgress?.(length);
    }
    const size = await file.size();
    if (size !== input.size)
      fail("input", `${input.name}: changed while packing (expected ${input.size} bytes, now ${size})`);
  } finally {
    subkey?.fill(0);
    await file.close();
  }
}

/** The error of a failed native call: reads name the input; writes go to the sink, which names its file. */
function nativeFailure(name: string, e: unknown): never {
  const f = nativeError(e);
  if (f?.code === "QCAP_FILE_CHANGED") fail("input", `${name}: changed while reading (shrank)`);
  if (f?.code === "QCAP_READ_FAILED") fail("input", `cannot read ${name}: ${f.message}`);
  if (f?.code === "QCAP_WRITE_FAILED") throw new Error(f.message);
  throw e;
}

/**
 * Seals an entry a block at a time on `engine`: pieces are copied into free slots, up to
 * `engine.depth` blocks are in flight, and finished blocks are written in order.
 */
async function writeBlocks(
  writer: ZipWriter,
  input: PackInput,
  tree: TreeBuilder,
  chunks: number,
  key: StreamKey | null,
  engine: BlockEngine,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  const blockBytes = BLOCK_CHUNKS * PLAIN_CHUNK;
  const queue: { slot: BlockSlot; length: number; done: Promise<{ storedLength: number; crc32: number }> }[] =
    [];
  let slot: BlockSlot | null = null;
  let filled = 0;
  let firstChunk = 0;
  const drainOne = async () => {
    const q = queue[0] as (typeof queue)[number];
    const r = await q.done;
    const stored = (key ? q.slot.output : q.slot.input).subarray(0, r.storedLength);
    await writer.write(stored, r.crc32);
    tree.pushDigests(q.slot.digests.subarray(0, Math.ceil(q.length / PLAIN_CHUNK) * 32));
    queue.shift();
    engine.release(q.slot);
    onProgress?.(q.length);
  };
  const submit = (from?: FileRange) => {
    const s = slot as BlockSlot;
    const job = {
      firstChunk,
      totalChunks: chunks,
      length: filled,
      ...(key ? { key } : {}),
      ...(from ? { from } : {}),
    };
    const done = engine.seal(s, job);
    // Awaited in order by drainOne; until then a failure must not count as unhandled.
    done.catch(() => {});
    queue.push({ slot: s, length: filled, done });
    firstChunk += BLOCK_CHUNKS;
    slot = null;
    filled = 0;
  };
  let seen = 0;
  const file = input.openFile ? await input.openFile() : null;
  try {
    if (file) {
      // The threads read the blocks themselves: nothing passes through this one.
      for (let at = 0; at < input.size; at += blockBytes) {
        while (queue.length >= engine.depth) await drainOne();
        slot = await engine.acquire();
        filled = Math.min(blockBytes, input.size - at);
        submit({ fd: file.fd, position: at, name: input.name });
      }
      while (queue.length > 0) await drainOne();
      const size = await file.size();
      if (size !== input.size)
        fail("input", `${input.name}: changed while packing (expected ${input.size} bytes, now ${size})`);
      return;
    }
    for await (const piece of input.read()) {
      seen += piece.length;
      if (seen > input.size) throw new QcapError("input", `${input.name}: changed while packing (grew)`);
      let buf = piece;
      while (buf.length > 0) {
        if (slot === null) {
          while (queue.length >= engine.depth) await drainOne();
          slot = await engine.acquire();
        }
        const take = Math.min(blockBytes - filled, buf.length);
        slot.input.set(buf.subarray(0, take), filled);
        filled += take;
        buf = buf.subarray(take);
        if (filled === blockBytes) submit();
      }
    }
    if (seen !== input.size)
      fail("input", `${input.name}: changed while packing (expected ${input.size} bytes, read ${seen})`);
    if (slot !== null && filled > 0) submit();
    while (queue.length > 0) await drainOne();
  } finally {
    // On failure: let blocks in flight finish, then give every slot back.
    for (const q of queue) {
      await q.done.catch(() => {});
      engine.release(q.slot);
    }
    if (slot !== null) engine.release(slot);
    await file?.close();
  }
}
