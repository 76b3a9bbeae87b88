/**
 * Reading a capsule (SPEC §7.3): the signature is checked before the manifest is trusted, the whole
 * container layout is compared with what the manifest implies, and every byte handed out has been
 * checked against the signed chunk tree.
 */

import { BLOCK_CHUNKS, type BlockEngine, type BlockSlot, type StreamKey } from "./blocks.js";
import { PLAIN_CHUNK, streamSubkey, TAG_BYTES } from "./crypto/stream.js";
import { fail, QcapError } from "./errors.js";
import { blake3 } from "./hash/blake3.js";
import { crc32 } from "./hash/crc32.js";
import { equalBytes, fromHex } from "./hash/hex.js";
import {
  chunkCount,
  DIGEST,
  FANOUT,
  indexSize,
  levelCounts,
  verifiedChunkDigests,
} from "./integrity/tree.js";
import { type RangeSource, readInto } from "./io/source.js";
import { verify as verifySignature } from "./keys/ed25519.js";
import {
  entryStoredSize,
  type Manifest,
  type ManifestEntry,
  parseManifest,
  peekIssuer,
  storedChunkSize,
} from "./manifest.js";
import { nativeThreads, type QcapNative, qcapNative } from "./native.js";
import { nativeFailure, rethrowChunkFailure } from "./native-errors.js";
import {
  computeLayout,
  dataDescriptor,
  localHeader,
  type PlacedEntry,
  type ZipEntrySpec,
} from "./zip/layout.js";
import { readCentralDirectory, readEntryData } from "./zip/reader.js";

export const MANIFEST_NAME = "manifest.json";
export const SIGNATURE_NAME = "signatures/manifest.ed25519";
const MAX_MANIFEST = 512 * 1024 * 1024;
/** Bytes read per request when streaming a whole entry: a whole number of chunks. */
const READ_CHUNKS = 16;
/** Chunks per native check call (64 MiB): progress is reported between calls. */
const NATIVE_CHECK_CHUNKS = 1024;

export interface OpenOptions {
  /** Accept only these issuer public keys (32 bytes each). Empty or absent: any issuer. */
  trust?: Uint8Array[];
}

export interface CapsuleEntry extends ManifestEntry {
  stored: number;
  chunkSize: number;
  placed: PlacedEntry;
  index: PlacedEntry | null;
}

/** One verified stored chunk of an entry. */
export interface StoredChunk {
  bytes: Uint8Array;
  index: number;
  last: boolean;
}

export class Capsule {
  private constructor(
    readonly source: RangeSource,
    readonly manifest: Manifest,
    readonly manifestBytes: Uint8Array,
    readonly signature: Uint8Array,
    readonly entries: ReadonlyMap<string, CapsuleEntry>,
  ) {}

  get sealed(): boolean {
    return this.manifest.seal !== null;
  }

  get issuer(): Uint8Array {
    return fromHex(this.manifest.issuer, 32);
  }

  static async open(source: RangeSource, options: OpenOptions = {}): Promise<Capsule> {
    const cd = await readCentralDirectory(source);
    const n = cd.entries.length;
    const mEntry = cd.entries[n - 2];
    const sEntry = cd.entries[n - 1];
    if (!mEntry || !sEntry || mEntry.name !== MANIFEST_NAME || sEntry.name !== SIGNATURE_NAME) {
      fail("format", "not a capsule: manifest.json and its signature must be the last entries");
    }
    if (mEntry.size > MAX_MANIFEST) fail("format", "manifest.json is too large");
    if (sEntry.size !== 64) fail("format", "signature entry must be 64 bytes");
    const manifestBytes = await readEntryData(source, mEntry);
    const signature = await readEntryData(source, sEntry);

    const issuerHex = peekIssuer(manifestBytes);
    const issuer = fromHex(issuerHex, 32);
    if (!verifySignature(issuer, manifestBytes, signature)) {
      fail("integrity", "manifest signature is invalid");
    }
    if (options.trust && options.trust.length > 0 && !options.trust.some((k) => equalBytes(k, issuer))) {
      fail("unauthorized", `capsule is signed by ${issuerHex}, which is not a trusted key`);
    }
    const manifest = parseManifest(manifestBytes);
    const sealed = manifest.seal !== null;

    // The layout the signed manifest implies must be exactly the file we have.
    const specs: ZipEntrySpec[] = [];
    for (const e of manifest.entries) {
      specs.push({ name: e.name, size: entryStoredSize(e, sealed), crc32: parseCrc(e.crc32), mode: e.mode });
      if (e.indexCrc32 !== undefined) {
        specs.push({
          name: `index/${e.name}`,
          size: indexSize(entryStoredSize(e, sealed), storedChunkSize(e.name, sealed)),
          crc32: parseCrc(e.indexCrc32),
          mode: 0o644,
        });
      }
    }
    specs.push({ name: MANIFEST_NAME, size: manifestBytes.length, crc32: crc32(manifestBytes), mode: 0o644 });
    specs.push({ name: SIGNATURE_NAME, size: 64, crc32: crc32(signature), mode: 0o644 });
    const layout = computeLayout(specs);
    if (
      layout.totalSize !== source.size ||
      layout.centralDirectoryOffset !== cd.offset ||
      !equalBytes(layout.centralDirectory, cd.bytes) ||
      !equalBytes(layout.end, cd.end)
    ) {
      fail("integrity", "the archive layout does not match the signed manifest");
    }

    const entries = new Map<string, CapsuleEntry>();
    let at = 0;
    for (const e of manifest.entries) {
      const placed = layout.entries[at++] as PlacedEntry;
      const index = e.indexCrc32 !== undefined ? (layout.entries[at++] as PlacedEntry) : null;
      entries.set(e.name, {
        ...e,
        stored: placed.size,
        chunkSize: storedChunkSize(e.name, sealed),
        placed,
        index,
      });
    }
    return new Capsule(source, manifest, manifestBytes, signature, entries);
  }

  entry(name: string): CapsuleEntry {
    const e = this.entries.get(name);
    if (!e) fail("input", `no entry "${name}" in the capsule`);
    return e as CapsuleEntry;
  }

  /**
   * The verified stored chunks of a whole entry, in order. Its local header and index are checked
   * first, each chunk before it is yielded, and the data descriptor after the last one.
   */
  async *entryChunks(name: string): AsyncGenerator<StoredChunk> {
    const e = this.entry(name);
    const src = this.source;
    await this.checkLocalHeader(e);
    const chunks = chunkCount(e.stored, e.chunkSize);
    const digests = await this.levelZero(e);
    for (let i = 0; i < chunks; ) {
      const off = i * e.chunkSize;
      const want = Math.min(e.stored - off, e.chunkSize * READ_CHUNKS);
      const block = want > 0 ? await src.read(e.placed.dataOffset + off, want) : new Uint8Array(0);
      if (block.length !== want) fail("integrity", `${e.name}: truncated`);
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
    await this.checkDataDescriptor(e);
  }

  /**
   * The verified bytes of a whole entry, a block (16 chunks) at a time, checked and, given `key`,
   * decrypted on `engine` with up to `engine.depth` blocks read ahead. Each block is valid only until
   * the next one is requested. The same checks as `entryChunks`, in the same order.
   */
  async *entryBlocks(name: string, engine: BlockEngine, key?: StreamKey): AsyncGenerator<Uint8Array> {
    const e = this.entry(name);
    if (e.stored === 0) {
      for await (const c of this.entryChunks(name)) yield c.bytes;
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
    await this.checkDataDescriptor(e);
  }

  private async checkLocalHeader(e: CapsuleEntry): Promise<void> {
    const header = await this.source.read(e.placed.offset, e.placed.dataOffset - e.placed.offset);
    if (!equalBytes(header, localHeader(e.name))) fail("integrity", `${e.name}: local header does not match`);
  }

  private async checkDataDescriptor(e: CapsuleEntry): Promise<void> {
    const descriptor = await this.source.read(e.placed.dataOffset + e.stored, 24);
    if (!equalBytes(descriptor, dataDescriptor(e.placed.crc32, e.stored))) {
      fail("integrity", `${e.name}: data descriptor does not match`);
    }
  }

  /**
   * Whether `verifyAll` checks large entries with the native kernels (a local file and
   * `@qcap/native` loaded): they read and hash on threads of their own, so no block engine is needed.
   */
  get checksNatively(): boolean {
    return this.source.fd !== undefined && qcapNative?.checkFileChunks !== undefined;
  }

  /**
   * Whether `openEntryNatively` can decrypt entry `name`: `checksNatively`, the entry is encrypted
   * and the native kernels can decrypt.
   */
  opensNatively(name: string): boolean {
    return (
      this.checksNatively &&
      this.sealed &&
      name.startsWith("payload/") &&
      qcapNative?.openFileChunks !== undefined
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
    onProgress?: (bytes: number) => void,
  ): Promise<void> {
    if (!this.opensNatively(name)) throw new Error(`${name} cannot be opened natively`);
    await this.nativeEntry(this.entry(name), onProgress, { key, fd });
  }

  /**
   * `entryChunks`' checks with the native kernels, which read and hash the file themselves (and,
   * given `into`, decrypt and write the plaintext there), 64 MiB per call.
   */
  private async nativeEntry(
    e: CapsuleEntry,
    onProgress?: (bytes: number) => void,
    into?: { key: StreamKey; fd: number },
  ): Promise<void> {
    const na = qcapNative as QcapNative;
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
    const digest = fromHex(e.digest, 32);
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
  async *rangeChunks(name: string, first: number, last: number): AsyncGenerator<StoredChunk> {
    const e = this.entry(name);
    const chunks = chunkCount(e.stored, e.chunkSize);
    if (first < 0 || last >= chunks || first > last) fail("usage", `${name}: chunk range out of bounds`);
    const digests = e.index
      ? await verifiedChunkDigests(fromHex(e.digest, 32), e.stored, e.chunkSize, first, last, (off, len) =>
          this.source.read((e.index as PlacedEntry).dataOffset + off, len),
        )
      : [fromHex(e.digest, 32)];
    const start = first * e.chunkSize;
    const end = Math.min(e.stored, (last + 1) * e.chunkSize);
    const bytes =
      end > start ? await this.source.read(e.placed.dataOffset + start, end - start) : new Uint8Array(0);
    if (bytes.length !== end - start) fail("integrity", `${name}: truncated`);
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
   * Checks every entry of the capsule: all stored bytes against the signed tree. Entries of at least
   * `engineMinBytes` (default 4 MiB) are checked by the native kernels when `checksNatively`, else
   * with `engine`, a block at a time, when one is given.
   */
  async verifyAll(
    onProgress?: (bytes: number) => void,
    engine?: BlockEngine,
    engineMinBytes = 4 * BLOCK_CHUNKS * 65536,
  ): Promise<void> {
    for (const e of this.entries.values()) {
      if (this.checksNatively && e.stored >= engineMinBytes) {
        await this.nativeEntry(e, onProgress);
      } else if (engine && e.stored >= engineMinBytes) {
        for await (const b of this.entryBlocks(e.name, engine)) onProgress?.(b.length);
      } else {
        for await (const c of this.entryChunks(e.name)) onProgress?.(c.bytes.length);
      }
    }
  }

  /** Short summary used by `inspect`: no secret, no plaintext digest of sealed data. */
  summary() {
    const m = this.manifest;
    return {
      format: m.qcap,
      issuer: m.issuer,
      root: m.root,
      sealed: this.sealed,
      hiddenNames: m.seal?.names != null,
      recipients: (m.seal?.recipients ?? []).map((r) =>
        r.type === "x25519" ? { type: r.type, kid: r.kid } : { type: r.type },
      ),
      entries: m.entries.map((e) => ({ name: e.name, size: e.size, mode: e.mode })),
      size: this.source.size,
    };
  }
}

function parseCrc(hex: string): number {
  return new DataView(fromHex(hex, 4).buffer).getUint32(0, false);
}
