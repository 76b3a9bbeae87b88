/**
 * Packing (and sealing) a capsule from any sources into any sink, in one streaming pass
 * (SPEC §7.1 order): entry, its index, …, manifest, signature, central directory.
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { randomBytes } from "@noble/hashes/utils.js";
import { BLOCK_CHUNKS, type BlockEngine, type BlockSlot, type FileRange, type StreamKey } from "./blocks.js";
import { MANIFEST_NAME, SIGNATURE_NAME } from "./capsule.js";
import { fileKeyDeriver, fileKeyPrk, keyCommitment, namesKey, streamAad } from "./crypto/kdf.js";
import { type Stanza, wrapToPassphraseWithSalt, wrapToX25519WithEphemeral } from "./crypto/recipients.js";
import {
  chunkCipher,
  chunkCipherImplementation,
  PLAIN_CHUNK,
  STORED_CHUNK,
  streamSubkey,
  TAG_BYTES,
} from "./crypto/stream.js";
import { fail, QcapError } from "./errors.js";
import { toHex } from "./hash/hex.js";
import { capsuleRoot, type RootLeaf } from "./integrity/merkle.js";
import { chunkCount, TreeBuilder } from "./integrity/tree.js";
import type { Sink } from "./io/sink.js";
import { sign } from "./keys/ed25519.js";
import {
  AEAD,
  CHUNK_SIZE,
  compareEntries,
  encodeManifest,
  entryStoredSize,
  FORMAT_VERSION,
  hiddenName,
  type Manifest,
  type ManifestEntry,
  MODE_EXEC,
  MODE_FILE,
  type Seal,
  storedChunkSize,
} from "./manifest.js";
import { nativeThreads, type QcapNative, qcapNative } from "./native.js";
import { checkNameSet, validateEntryName } from "./zip/names.js";
import { ZipWriter } from "./zip/writer.js";

/** One file to pack: its entry name (`payload/…` or `meta/…`), exact size, mode and bytes. */
export interface PackInput {
  name: string;
  size: number;
  mode?: number;
  /**
   * Yields the bytes, in pieces of any size, exactly `size` in total. Each piece is consumed before
   * the next is requested, so pieces may reuse memory; `scratch`, when given, is the caller's to
   * lend for that (valid until the next piece is requested).
   */
  read(scratch?: Uint8Array): AsyncIterable<Uint8Array>;
  /**
   * Optional, for local files: opens the file for positioned reads, so that a block engine's
   * threads read the blocks they seal themselves. `fd` stays valid until `close()`.
   */
  openFile?(): Promise<OpenedFile>;
}

export interface OpenedFile {
  fd: number;
  /** The file's current size. */
  size(): Promise<number>;
  close(): Promise<void>;
}

/** One whole small input for a `SmallFileBatcher`, under its entry name in the capsule. */
export interface SmallFileJob {
  input: PackInput;
  name: string;
}

/**
 * What a batcher needs to seal (SPEC §5.1, §5.2): each file key is HKDF-Expand of `prk` (HKDF-Extract
 * of the master key, salt the capsule id) with the entry name; the associated data names both.
 */
export interface BatchKeys {
  prk: Uint8Array;
  capsuleId: Uint8Array;
}

export interface SmallFilesSealed {
  /** Every input's stored bytes, one after the other. */
  stored: Uint8Array;
  /** BLAKE3 of each input's stored bytes, 32 bytes each. */
  digests: Uint8Array;
  /** CRC-32 of each input's stored bytes. */
  crcs: ArrayLike<number>;
}

/** Reads and seals whole small inputs many at a time (see `PackOptions.smallFiles`). */
export interface SmallFileBatcher {
  /** Largest input it takes: at most one chunk. */
  readonly maxSize: number;
  /** Inputs and stored bytes per batch at most. */
  readonly maxFiles: number;
  readonly maxBytes: number;
  /** Whether it can read `input` itself (e.g. a local file). */
  accepts(input: PackInput): boolean;
  /**
   * Seals every input (with `keys`) or stores them all in the clear (without); rejects with a
   * QcapError naming the first input that fails.
   */
  seal(jobs: SmallFileJob[], keys: BatchKeys | null): Promise<SmallFilesSealed>;
}

export interface SigningKey {
  seed: Uint8Array;
  publicKey: Uint8Array;
}

export interface PackOptions {
  signingKey: SigningKey;
  /** X25519 recipient public keys; any recipient or a passphrase seals the capsule. */
  recipients?: Uint8Array[];
  passphrase?: string;
  argon2?: { m?: number; t?: number; p?: number };
  /** Hide payload names behind numbers (sealed capsules only). */
  hideNames?: boolean;
  /** Called with the number of input bytes just processed. */
  onProgress?: (bytes: number) => void;
  /**
   * Where large entries are sealed and hashed, a block at a time (on Node: `createBlockEngine()`,
   * worker threads). Absent: on the calling thread. The output is the same byte for byte.
   */
  engine?: BlockEngine;
  /** Entries at least this large go to `engine` (default 4 MiB). */
  engineMinBytes?: number;
  /**
   * Reads and seals small files in batches (on Node: `nativeSmallFiles()`, the native kernels). The
   * output is the same byte for byte.
   */
  smallFiles?: SmallFileBatcher;
  /**
   * @internal Source of the random values (master key, capsule id, ephemeral keys, salts), in that
   * order. Only for reproducible test vectors: real capsules must use the default.
   */
  random?: (length: number) => Uint8Array;
}

export interface PackResult {
  manifest: Manifest;
  manifestBytes: Uint8Array;
  /** Total bytes written. */
  size: number;
}

const crcHex = (n: number) => n.toString(16).padStart(8, "0");

export async function pack(inputs: PackInput[], sink: Sink, options: PackOptions): Promise<PackResult> {
  const recipients = options.recipients ?? [];
  const sealed = recipients.length > 0 || options.passphrase !== undefined;
  if (options.hideNames && !sealed) fail("usage", "hiding names needs a recipient or a passphrase");
  for (const input of inputs) {
    validateEntryName(input.name);
    if (!input.name.startsWith("payload/") && !input.name.startsWith("meta/")) {
      fail("input", `"${input.name}" must be under payload/ or meta/`);
    }
    if (!Number.isSafeInteger(input.size) || input.size < 0) fail("input", `${input.name}: invalid size`);
  }
  checkNameSet(inputs.map((i) => i.name));
  const ordered = [...inputs].sort((a, b) => compareEntries(a.name, b.name));

  let seal: Seal | null = null;
  let masterKey: Uint8Array | null = null;
  let capsuleId: Uint8Array | null = null;
  const entryNames = new Map<PackInput, string>();
  let p = 0;
  for (const input of ordered) {
    entryNames.set(
      input,
      options.hideNames && input.name.startsWith("payload/") ? hiddenName(p++) : input.name,
    );
  }
  if (sealed) {
    const random = options.random ?? randomBytes;
    const mk = random(32);
    const id = random(16);
    masterKey = mk;
    capsuleId = id;
    const stanzas: Stanza[] = recipients.map((r) => wrapToX25519WithEphemeral(mk, id, r, random(32)));
    if (options.passphrase !== undefined) {
      stanzas.push(await wrapToPassphraseWithSalt(mk, id, options.passphrase, options.argon2, random(16)));
    }
    let names: string | null = null;
    if (options.hideNames) {
      const real = ordered.filter((i) => i.name.startsWith("payload/")).map((i) => i.name);
      const blob = xchacha20poly1305(namesKey(masterKey, capsuleId), new Uint8Array(24), capsuleId).encrypt(
        new TextEncoder().encode(JSON.stringify(real)),
      );
      names = toHex(blob);
    }
    seal = {
      aead: AEAD,
      capsuleId: toHex(capsuleId),
      commitment: toHex(keyCommitment(mk, id)),
      recipients: stanzas,
      names,
    };
  }

  const writer = new ZipWriter(sink);
  try {
    const entries: ManifestEntry[] = [];
    // The root is computed from the digests as made, not parsed back from the manifest's hex.
    const leaves: RootLeaf[] = [];
    const fileKeys = masterKey && capsuleId ? fileKeyDeriver(masterKey, capsuleId) : null;
    const scratch = new Scratch();
    const add = ({ entry, digest }: { entry: ManifestEntry; digest: Uint8Array }) => {
      entries.push(entry);
      leaves.push({ name: entry.name, size: entry.size, digest });
    };
    const keyOf = (name: string): StreamKey | null =>
      sealed && name.startsWith("payload/")
        ? {
            fileKey: (fileKeys as (name: string) => Uint8Array)(name),
            aad: streamAad(capsuleId as Uint8Array, name),
          }
        : null;
    const segments = segment(ordered, entryNames, sealed, options.smallFiles);
    let prk: Uint8Array | null = null;
    const batchKeys = (): BatchKeys => {
      prk ??= fileKeyPrk(masterKey as Uint8Array, capsuleId as Uint8Array);
      return { prk, capsuleId: capsuleId as Uint8Array };
    };
    // A batch of small files is read and sealed while the one before it is written.
    const started = new Map<number, Promise<SmallFilesSealed>>();
    const start = (k: number) => {
      const s = segments[k];
      if (!s || s.kind !== "batch" || started.has(k)) return;
      const jobs = s.inputs.map((input) => ({ input, name: entryNames.get(input) as string }));
      const p = (options.smallFiles as SmallFileBatcher).seal(jobs, s.encrypted ? batchKeys() : null);
      p.catch(() => {});
      started.set(k, p);
    };
    try {
      for (let k = 0; k < segments.length; k++) {
        start(k);
        start(k + 1);
        const s = segments[k] as Segment;
        if (s.kind === "one") {
          const name = entryNames.get(s.input) as string;
          add(await writeEntry(writer, s.input, name, sealed, keyOf(name), options, scratch));
          continue;
        }
        const batch = (await started.get(k)) as SmallFilesSealed;
        started.delete(k);
        for (const w of writeBatch(s.inputs, s.encrypted, batch)) {
          const name = entryNames.get(w.input) as string;
          add(await writeStored(writer, w.input, name, w.stored, w.crc32, w.digest));
          options.onProgress?.(w.input.size);
        }
      }
    } finally {
      // The batcher took its copy of the key when each batch started.
      (prk as Uint8Array | null)?.fill(0);
    }
    const manifest: Manifest = {
      qcap: FORMAT_VERSION,
      issuer: toHex(options.signingKey.publicKey),
      chunkSize: CHUNK_SIZE,
      entries,
      root: toHex(capsuleRoot(leaves)),
      seal,
    };
    const manifestBytes = encodeManifest(manifest);
    await writer.addEntry(MANIFEST_NAME, MODE_FILE, manifestBytes);
    await writer.addEntry(SIGNATURE_NAME, MODE_FILE, sign(options.signingKey.seed, manifestBytes));
    const { size } = await writer.finish();
    return { manifest, manifestBytes, size };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** Inputs in pack order, cut into batches of small files (for `PackOptions.smallFiles`) and the rest. */
type Segment = { kind: "one"; input: PackInput } | { kind: "batch"; inputs: PackInput[]; encrypted: boolean };

function segment(
  ordered: PackInput[],
  entryNames: Map<PackInput, string>,
  sealed: boolean,
  batcher: SmallFileBatcher | undefined,
): Segment[] {
  const out: Segment[] = [];
  let run: PackInput[] = [];
  let runBytes = 0;
  let runEncrypted = false;
  const close = () => {
    if (run.length > 0) out.push({ kind: "batch", inputs: run, encrypted: runEncrypted });
    run = [];
    runBytes = 0;
  };
  for (const input of ordered) {
    if (!batcher?.accepts(input) || input.size > batcher.maxSize) {
      close();
      out.push({ kind: "one", input });
      continue;
    }
    // A batch is sealed or stored in the clear as a whole.
    const encrypted = sealed && (entryNames.get(input) as string).startsWith("payload/");
    if (
      run.length > 0 &&
      (run.length >= batcher.maxFiles ||
        runBytes + input.size > batcher.maxBytes ||
        encrypted !== runEncrypted)
    )
      close();
    runEncrypted = encrypted;
    run.push(input);
    runBytes += input.size + 16;
  }
  close();
  return out;
}

/** The stored bytes, CRC-32 and digest of each file of a sealed batch. */
function* writeBatch(
  inputs: PackInput[],
  encrypted: boolean,
  r: SmallFilesSealed,
): Generator<{ input: PackInput; stored: Uint8Array; crc32: number; digest: Uint8Array }> {
  const tag = encrypted ? TAG_BYTES : 0;
  let at = 0;
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i] as PackInput;
    const n = input.size + tag;
    yield {
      input,
      stored: r.stored.subarray(at, at + n),
      crc32: r.crcs[i] as number,
      digest: r.digests.slice(32 * i, 32 * i + 32),
    };
    at += n;
  }
}

/** Writes a single-chunk entry whose stored bytes, CRC-32 and digest are already known. */
async function writeStored(
  writer: ZipWriter,
  input: PackInput,
  name: string,
  stored: Uint8Array,
  crc: number,
  digest: Uint8Array,
): Promise<{ entry: ManifestEntry; digest: Uint8Array }> {
  const mode = input.mode === MODE_EXEC ? MODE_EXEC : MODE_FILE;
  await writer.beginEntry(name, mode);
  await writer.write(stored, crc);
  const { crc32 } = await writer.endEntry();
  return { entry: { name, size: input.size, mode, crc32: crcHex(crc32), digest: toHex(digest) }, digest };
}

async function writeEntry(
  writer: ZipWriter,
  input: PackInput,
  name: string,
  sealed: boolean,
  key: StreamKey | null,
  options: PackOptions,
  scratch: Scratch,
): Promise<{ entry: ManifestEntry; digest: Uint8Array }> {
  const onProgress = options.onProgress;
  const mode = input.mode === MODE_EXEC ? MODE_EXEC : MODE_FILE;
  const chunks = chunkCount(input.size, PLAIN_CHUNK);
  const tree = new TreeBuilder(storedChunkSize(name, sealed), chunks);
  await writer.beginEntry(name, mode);
  const large = input.size >= (options.engineMinBytes ?? ENGINE_MIN_BYTES);
  if (large && input.openFile && writer.canWriteDirect && sealsNatively()) {
    await writeNatively(writer, input, tree, chunks, key, onProgress);
  } else if (large && options.engine) {
    await writeBlocks(writer, input, tree, chunks, key, options.engine, onProgress);
  } else {
    await writeChunks(writer, input, tree, chunks, key, scratch, onProgress);
  }
  const { crc32 } = await writer.endEntry();
  const { digest, index } = tree.finish();
  const entry: ManifestEntry = { name, size: input.size, mode, crc32: crcHex(crc32), digest: toHex(digest) };
  if (index) {
    const { crc32: indexCrc } = await writer.addEntry(`index/${name}`, MODE_FILE, index);
    entry.indexCrc32 = crcHex(indexCrc);
  }
  if (entryStoredSize(entry, sealed) !== (key ? input.size + 16 * chunks : input.size)) {
    fail("format", "internal: stored size mismatch");
  }
  return { entry, digest };
}

const ENGINE_MIN_BYTES = 4 * BLOCK_CHUNKS * PLAIN_CHUNK;

/**
 * Buffers of one `pack` call reused across its entries: with thousands of small files, new buffers
 * for every entry are most of the garbage. Grown to the largest chunk seen.
 */
class Scratch {
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
 * engine is the one in use.
 */
export function sealsNatively(): boolean {
  return chunkCipherImplementation === "native" && qcapNative?.sealFileChunks !== undefined;
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
  onProgress?: (bytes: number) => void,
): Promise<void> {
  const na = qcapNative as QcapNative;
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
  const message = e instanceof Error ? e.message : String(e);
  if (message.startsWith("read: changed")) fail("input", `${name}: ${message.slice("read: ".length)}`);
  if (message.startsWith("read: ")) fail("input", `cannot read ${name}: ${message.slice("read: ".length)}`);
  throw new Error(message.replace(/^write: /, ""));
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

/** An input made from bytes in memory. */
export function bytesInput(name: string, bytes: Uint8Array, mode = MODE_FILE): PackInput {
  return {
    name,
    size: bytes.length,
    mode,
    async *read() {
      yield bytes;
    },
  };
}
