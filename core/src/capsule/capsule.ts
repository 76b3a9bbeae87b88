/**
 * Reading a capsule: the signature is checked before anything signed is trusted, and every byte
 * handed out has been checked against the signed chunk trees. Version 2 capsules are read through
 * their paged index (one page per level for one entry); version 1 capsules through a read-only
 * adaptor that loads their whole manifest. `open` tells them apart by the file's tail.
 */

import { PLAIN_CHUNK, streamSubkey, TAG_BYTES } from "../crypto/stream.js";
import { BLOCK_CHUNKS, type BlockEngine, type BlockSlot, type StreamKey } from "../engine/blocks.js";
import { type Engine, inlineEngine } from "../engine/engine.js";
import { nativeThreads, type QcapNative } from "../engine/native.js";
import { nativeFailure, rethrowChunkFailure } from "../engine/native-errors.js";
import { fail, QcapError } from "../errors.js";
import {
  MANIFEST_NAME,
  type Manifest,
  manifestVersion,
  parseManifest,
  parseManifestJson,
  peekIssuer,
  SIGNATURE_NAME,
} from "../format/manifest.js";
import { blake3 } from "../hash/blake3.js";
import { equalBytes, fromHex } from "../hash/hex.js";
import { chunkCount, DIGEST, FANOUT, levelCounts, verifiedChunkDigests } from "../integrity/tree.js";
import { type RangeSource, readInto } from "../io/source.js";
import { verify as verifySignature } from "../keys/ed25519.js";
import { openV1, readV1Signed } from "../v1/open.js";
import { dataDescriptor, localHeader, type PlacedEntry } from "../zip/layout.js";
import { readCentralDirectory } from "../zip/reader.js";
import { IndexV2 } from "./index-v2.js";
import { checkedBatch, isSmallEntry, type SmallBatch, SmallBatcher } from "./small-batches.js";
import { isV2Tail, parseTail, readHeaderGroup, readTail } from "./tail.js";
import type { CapsuleEntry, CapsuleHeader, EntryIndex } from "./types.js";
import { verifyV2 } from "./verify-v2.js";

export type { CapsuleEntry, CapsuleHeader } from "./types.js";
export { MANIFEST_NAME, SIGNATURE_NAME };

/** Bytes read per request when streaming a whole entry: a whole number of chunks. */
const READ_CHUNKS = 16;
/** Chunks per native check call (64 MiB): progress is reported between calls. */
const NATIVE_CHECK_CHUNKS = 1024;

export interface OpenOptions {
  /** Accept only these issuer public keys (32 bytes each). Empty or absent: any issuer. */
  trust?: Uint8Array[];
}

/** One verified stored chunk of an entry. */
export interface StoredChunk {
  bytes: Uint8Array;
  index: number;
  last: boolean;
}

/** Checks the signature over the manifest with the key it names, and that key against `trust`. */
function checkSigned(json: unknown, manifestBytes: Uint8Array, signature: Uint8Array, o: OpenOptions): void {
  const issuerHex = peekIssuer(json);
  const issuer = fromHex(issuerHex, 32);
  if (!verifySignature(issuer, manifestBytes, signature)) fail("integrity", "manifest signature is invalid");
  if (o.trust && o.trust.length > 0 && !o.trust.some((k) => equalBytes(k, issuer)))
    fail("unauthorized", `capsule is signed by ${issuerHex}, which is not a trusted key`);
}

export class Capsule {
  private constructor(
    readonly source: RangeSource,
    /** The signed header (for version 1, its manifest in this shape). */
    readonly manifest: CapsuleHeader,
    readonly manifestBytes: Uint8Array,
    readonly signature: Uint8Array,
    private readonly index: EntryIndex,
  ) {}

  /** Format version: 2, or 1 for a capsule read through the version 1 adaptor. */
  get version(): 1 | 2 {
    return this.manifest.qcap;
  }

  get sealed(): boolean {
    return this.manifest.seal !== null;
  }

  get hiddenNames(): boolean {
    return this.manifest.seal?.hiddenNames === true;
  }

  get issuer(): Uint8Array {
    return fromHex(this.manifest.issuer, 32);
  }

  static async open(source: RangeSource, options: OpenOptions = {}): Promise<Capsule> {
    const tailBytes = await readTail(source);
    if (isV2Tail(tailBytes)) {
      const tail = parseTail(tailBytes, source.size);
      const group = await readHeaderGroup(source, tail);
      const json = parseManifestJson(group.manifestBytes);
      if (manifestVersion(json) !== 2) fail("format", "a version 1 manifest in a version 2 layout");
      checkSigned(json, group.manifestBytes, group.signature, options);
      const manifest: Manifest = parseManifest(group.manifestBytes);
      const ix = new IndexV2(source, manifest, group.rootPage, tail.root.offset);
      const index: EntryIndex = {
        checksDescriptors: false,
        lookup: (name) => ix.lookup(name),
        entries: () => ix.entries(),
        verify: (checkEntry) => verifyV2(ix, tail, group, checkEntry),
        realNames: (masterKey) => ix.realNames(masterKey),
      };
      return new Capsule(source, manifest, group.manifestBytes, group.signature, index);
    }
    const cd = await readCentralDirectory(source);
    const { manifestBytes, signature } = await readV1Signed(source, cd);
    const json = parseManifestJson(manifestBytes);
    if (manifestVersion(json) !== 1) fail("format", "a version 2 manifest without its index");
    checkSigned(json, manifestBytes, signature, options);
    const { header, index } = openV1(source, cd, manifestBytes, signature);
    return new Capsule(source, header, manifestBytes, signature, index);
  }

  /** The entry with ZIP name `name`: only the index pages on its path are read. */
  async entry(name: string): Promise<CapsuleEntry> {
    const e = await this.index.lookup(name);
    if (!e) fail("input", `no entry "${name}" in the capsule`);
    return e as CapsuleEntry;
  }

  /** Whether the capsule holds an entry named `name`. */
  async has(name: string): Promise<boolean> {
    return (await this.index.lookup(name)) !== null;
  }

  /** Every content entry, in file order, read page by page. */
  entries(): AsyncGenerator<CapsuleEntry> {
    return this.index.entries();
  }

  /** Every content entry at once, for whole-capsule operations. */
  async allEntries(): Promise<CapsuleEntry[]> {
    const out: CapsuleEntry[] = [];
    for await (const e of this.index.entries()) out.push(e);
    return out;
  }

  /**
   * The real names of payload entries, keyed by their ZIP names. Without hidden names they are the
   * same; with them, `masterKey` opens them (without it, the ZIP names are returned).
   */
  realNames(masterKey?: Uint8Array): Promise<Map<string, string>> {
    return this.index.realNames(masterKey);
  }

  /**
   * The verified stored chunks of a whole entry, in order. Its local header and index are checked
   * first, each chunk before it is yielded, and the data descriptor after the last one.
   */
  async *entryChunks(
    entry: string | CapsuleEntry,
    descriptor = this.index.checksDescriptors,
  ): AsyncGenerator<StoredChunk> {
    const e = await this.resolve(entry);
    const src = this.source;
    const chunks = chunkCount(e.stored, e.chunkSize);
    const digests = await this.levelZero(e);
    const headerLength = e.placed.dataOffset - e.placed.offset;
    for (let i = 0; i < chunks; ) {
      const off = i * e.chunkSize;
      const want = Math.min(e.stored - off, e.chunkSize * READ_CHUNKS);
      // The local header comes with the first block: an entry of one chunk is one request.
      const from = i === 0 ? e.placed.offset : e.placed.dataOffset + off;
      const extra = i === 0 ? headerLength : 0;
      let block = await src.read(from, want + extra);
      if (block.length !== want + extra) fail("integrity", `${e.name}: truncated`);
      if (i === 0) {
        this.checkLocalHeaderBytes(e, block.subarray(0, headerLength));
        block = block.subarray(headerLength);
      }
      // An empty entry still has one (empty) chunk.
      for (let p = 0; p === 0 || p < block.length; p += e.chunkSize) {
        const chunk = block.subarray(p, Math.min(block.length, p + e.chunkSize));
        if (!equalBytes(blake3(chunk), digests.subarray(i * DIGEST, (i + 1) * DIGEST))) {
          fail("integrity", `${e.name}: chunk ${i} does not match the signed digest`);
        }
        yield { bytes: chunk, index: i, last: i === chunks - 1 };
        i++;
      }
    }
    if (descriptor) await this.checkDataDescriptor(e);
  }

  /**
   * The verified bytes of a whole entry, a block (16 chunks) at a time, checked and, given `key`,
   * decrypted on `engine` with up to `engine.depth` blocks read ahead. Each block is valid only until
   * the next one is requested. The same checks as `entryChunks`, in the same order.
   */
  async *entryBlocks(
    entry: string | CapsuleEntry,
    engine: BlockEngine,
    key?: StreamKey,
    descriptor = this.index.checksDescriptors,
  ): AsyncGenerator<Uint8Array> {
    const e = await this.resolve(entry);
    if (e.stored === 0) {
      for await (const c of this.entryChunks(e, descriptor)) yield c.bytes;
      return;
    }
    const src = this.source;
    await this.checkLocalHeader(e);
    const chunks = chunkCount(e.stored, e.chunkSize);
    const digests = await this.levelZero(e);
    const blockBytes = e.chunkSize * BLOCK_CHUNKS;
    const blocks = Math.ceil(e.stored / blockBytes);
    const queue: { slot: BlockSlot; done: Promise<{ plainLength: number }> }[] = [];
    let b = 0;
    try {
      while (b < blocks || queue.length > 0) {
        while (b < blocks && queue.length < engine.depth) {
          const slot = await engine.acquire();
          const at = b * blockBytes;
          const length = Math.min(blockBytes, e.stored - at);
          const first = b * BLOCK_CHUNKS;
          const expected = digests.subarray(
            first * DIGEST,
            (first + Math.ceil(length / e.chunkSize)) * DIGEST,
          );
          const job = {
            firstChunk: first,
            totalChunks: chunks,
            length,
            chunkSize: e.chunkSize,
            expected,
            ...(key ? { key } : {}),
          };
          // A local file is read by the thread that checks the block; other sources are read here.
          const fd = src.fd;
          const done =
            fd !== undefined
              ? engine.open(slot, {
                  ...job,
                  from: { fd, position: e.placed.dataOffset + at, name: src.name },
                })
              : readInto(src, e.placed.dataOffset + at, slot.input.subarray(0, length)).then(() =>
                  engine.open(slot, job),
                );
          // Awaited in order below; until then a failure must not count as unhandled.
          done.catch(() => {});
          queue.push({ slot, done });
          b++;
        }
        const q = queue[0] as (typeof queue)[number];
        let r: { plainLength: number };
        try {
          r = await q.done;
        } catch (err) {
          if (err instanceof QcapError && err.kind === "integrity") {
            throw new QcapError("integrity", `${e.name}: ${err.message}`);
          }
          throw err;
        }
        yield (key ? q.slot.output : q.slot.input).subarray(0, r.plainLength);
        queue.shift();
        engine.release(q.slot);
      }
    } finally {
      for (const q of queue) {
        await q.done.catch(() => {});
        engine.release(q.slot);
      }
    }
    if (descriptor) await this.checkDataDescriptor(e);
  }

  private async resolve(entry: string | CapsuleEntry): Promise<CapsuleEntry> {
    return typeof entry === "string" ? this.entry(entry) : entry;
  }

  private async checkLocalHeader(e: CapsuleEntry): Promise<void> {
    this.checkLocalHeaderBytes(
      e,
      await this.source.read(e.placed.offset, e.placed.dataOffset - e.placed.offset),
    );
  }

  private checkLocalHeaderBytes(e: CapsuleEntry, header: Uint8Array): void {
    if (!equalBytes(header, localHeader(e.name))) fail("integrity", `${e.name}: local header does not match`);
  }

  private async checkDataDescriptor(e: CapsuleEntry): Promise<void> {
    const descriptor = await this.source.read(e.placed.dataOffset + e.stored, 24);
    if (!equalBytes(descriptor, dataDescriptor(e.placed.crc32, e.stored))) {
      fail("integrity", `${e.name}: data descriptor does not match`);
    }
  }

  /**
   * Whether `verifyAll` checks large entries with the native kernels (a local file and an engine
   * with `@qcap/native`): they read and hash on threads of their own, so no block engine is needed.
   */
  checksNatively(engine: Engine = inlineEngine): boolean {
    return this.source.fd !== undefined && engine.native?.checkFileChunks !== undefined;
  }

  /**
   * Whether `openEntryNatively` can decrypt entry `name`: `checksNatively`, the entry is encrypted
   * and the native kernels can decrypt.
   */
  opensNatively(name: string, engine: Engine = inlineEngine): boolean {
    return (
      this.checksNatively(engine) &&
      this.sealed &&
      name.startsWith("payload/") &&
      engine.native?.openFileChunks !== undefined
    );
  }

  /**
   * `entryBlocks` with the native kernels, file to file: the entry is checked and decrypted with
   * `key` on threads of their own and its plaintext written from the start of the open file `fd`.
   * Only when `opensNatively(name)`. On failure the file holds partial plaintext of checked chunks:
   * the caller discards it.
   */
  async openEntryNatively(
    name: string,
    key: StreamKey,
    fd: number,
    engine: Engine = inlineEngine,
    onProgress?: (bytes: number) => void,
  ): Promise<void> {
    if (!this.opensNatively(name, engine)) throw new Error(`${name} cannot be opened natively`);
    await this.nativeEntry(engine.native as QcapNative, await this.entry(name), onProgress, { key, fd });
  }

  /**
   * `entryChunks`' checks with the native kernels, which read and hash the file themselves (and,
   * given `into`, decrypt and write the plaintext there), 64 MiB per call.
   */
  private async nativeEntry(
    na: QcapNative,
    e: CapsuleEntry,
    onProgress?: (bytes: number) => void,
    into?: { key: StreamKey; fd: number },
  ): Promise<void> {
    await this.checkLocalHeader(e);
    const digests = await this.levelZero(e);
    const chunks = chunkCount(e.stored, e.chunkSize);
    const subkey = into && streamSubkey(into.key.fileKey);
    try {
      for (let first = 0; first < chunks; first += NATIVE_CHECK_CHUNKS) {
        const n = Math.min(NATIVE_CHECK_CHUNKS, chunks - first);
        const at = first * e.chunkSize;
        const length = Math.min(n * e.chunkSize, e.stored - at);
        const expected = digests.subarray(first * DIGEST, (first + n) * DIGEST);
        const fd = this.source.fd as number;
        const position = e.placed.dataOffset + at;
        const threads = nativeThreads();
        try {
          await (into && subkey
            ? na.openFileChunks(
                fd,
                position,
                length,
                e.chunkSize,
                expected,
                subkey,
                into.key.aad,
                first,
                chunks,
                into.fd,
                first * PLAIN_CHUNK,
                threads,
              )
            : na.checkFileChunks(fd, position, length, e.chunkSize, expected, threads));
        } catch (err) {
          if (nativeFailure(err)?.code === "QCAP_TRUNCATED") fail("integrity", `${e.name}: truncated`);
          rethrowChunkFailure(err, first, e.name);
        }
        onProgress?.(into ? length - n * TAG_BYTES : length);
      }
    } finally {
      subkey?.fill(0);
    }
    await this.checkDataDescriptor(e);
  }

  /** Verified level-0 digests of an entry: its digest alone, or its whole verified index. */
  private async levelZero(e: CapsuleEntry): Promise<Uint8Array> {
    const digest = e.digest;
    if (!e.index) return digest;
    const bytes = await this.readIndexEntry(e);
    const counts = levelCounts(chunkCount(e.stored, e.chunkSize));
    // Check each level against the one above, from the top down.
    let above = digest;
    let offsets = 0;
    const starts: number[] = [];
    for (let k = 0; k < counts.length - 1; k++) {
      starts.push(offsets);
      offsets += (counts[k] as number) * DIGEST;
    }
    for (let k = counts.length - 2; k >= 0; k--) {
      const level = bytes.subarray(starts[k], (starts[k] as number) + (counts[k] as number) * DIGEST);
      const groups = Math.ceil((counts[k] as number) / FANOUT);
      for (let g = 0; g < groups; g++) {
        const got = blake3(level.subarray(g * FANOUT * DIGEST, (g + 1) * FANOUT * DIGEST));
        if (!equalBytes(got, above.subarray(g * DIGEST, (g + 1) * DIGEST))) {
          fail("integrity", `${e.name}: index does not match the signed digest`);
        }
      }
      above = level;
    }
    return above;
  }

  private async readIndexEntry(e: CapsuleEntry): Promise<Uint8Array> {
    const ix = e.index as PlacedEntry;
    const all = await this.source.read(ix.offset, ix.dataOffset - ix.offset + ix.size + 24);
    const headerLen = ix.dataOffset - ix.offset;
    if (!equalBytes(all.subarray(0, headerLen), localHeader(ix.name))) {
      fail("integrity", `${ix.name}: local header does not match`);
    }
    if (!equalBytes(all.subarray(headerLen + ix.size), dataDescriptor(ix.crc32, ix.size))) {
      fail("integrity", `${ix.name}: data descriptor does not match`);
    }
    return all.subarray(headerLen, headerLen + ix.size);
  }

  /**
   * Reads stored chunks [first, last] of an entry, verified against the signed tree while fetching
   * only the index groups on their path. Used for range reads of large entries.
   */
  async *rangeChunks(entry: string | CapsuleEntry, first: number, last: number): AsyncGenerator<StoredChunk> {
    const e = await this.resolve(entry);
    const name = e.name;
    const chunks = chunkCount(e.stored, e.chunkSize);
    if (first < 0 || last >= chunks || first > last) fail("usage", `${name}: chunk range out of bounds`);
    const digests = e.index
      ? await verifiedChunkDigests(e.digest, e.stored, e.chunkSize, first, last, (off, len) =>
          this.source.read((e.index as PlacedEntry).dataOffset + off, len),
        )
      : [e.digest];
    const start = first * e.chunkSize;
    const end = Math.min(e.stored, (last + 1) * e.chunkSize);
    // The local header is checked too: with the chunks when they start the entry.
    const headerLength = e.placed.dataOffset - e.placed.offset;
    if (first > 0) await this.checkLocalHeader(e);
    const extra = first === 0 ? headerLength : 0;
    const all = await this.source.read(e.placed.dataOffset + start - extra, end - start + extra);
    if (all.length !== end - start + extra) fail("integrity", `${name}: truncated`);
    if (extra > 0) this.checkLocalHeaderBytes(e, all.subarray(0, extra));
    const bytes = all.subarray(extra);
    for (let i = first; i <= last; i++) {
      const chunk = bytes.subarray(
        (i - first) * e.chunkSize,
        Math.min(bytes.length, (i - first + 1) * e.chunkSize),
      );
      if (!equalBytes(blake3(chunk), digests[i - first] as Uint8Array)) {
        throw new QcapError("integrity", `${name}: chunk ${i} does not match the signed digest`);
      }
      yield { bytes: chunk, index: i, last: i === chunks - 1 };
    }
  }

  /**
   * Checks the whole capsule: the index and layout (version 2: streaming over the pages and the
   * central directory) and every entry's stored bytes against its signed tree. Entries of at least
   * `engine.largeBytes` are checked by the native kernels when `checksNatively(engine)`, else a block
   * at a time on the engine's worker threads when it has them.
   */
  async verifyAll(onProgress?: (bytes: number) => void, engine: Engine = inlineEngine): Promise<void> {
    const native = this.checksNatively(engine) ? (engine.native as QcapNative) : undefined;
    // Small entries are checked a batch at a time: one read for up to a thousand of them.
    const batcher = new SmallBatcher<{ entry: CapsuleEntry }>(this, true);
    const check = async (batch: SmallBatch<{ entry: CapsuleEntry }> | null) => {
      if (batch) for await (const { stored } of checkedBatch(this, batch, true)) onProgress?.(stored.length);
    };
    await this.index.verify(async (e) => {
      if (isSmallEntry(e)) return check(batcher.add({ entry: e }));
      await check(batcher.take());
      const large = e.stored >= engine.largeBytes;
      const blocks = large && !native ? engine.blocks() : undefined;
      if (native && large) {
        await this.nativeEntry(native, e, onProgress);
      } else if (blocks) {
        for await (const b of this.entryBlocks(e, blocks, undefined, true)) onProgress?.(b.length);
      } else {
        for await (const c of this.entryChunks(e, true)) onProgress?.(c.bytes.length);
      }
    });
    await check(batcher.take());
  }

  /** Short summary used by `inspect`: no secret, no plaintext digest of sealed data. */
  async summary() {
    const m = this.manifest;
    const entries: { name: string; size: number; mode: number }[] = [];
    for await (const e of this.entries()) entries.push({ name: e.name, size: e.size, mode: e.mode });
    return {
      format: m.qcap,
      issuer: m.issuer,
      root: m.root,
      sealed: this.sealed,
      hiddenNames: this.hiddenNames,
      recipients: (m.seal?.recipients ?? []).map((r) =>
        r.type === "x25519" ? { type: r.type, kid: r.kid } : { type: r.type },
      ),
      entries,
      size: this.source.size,
    };
  }
}
