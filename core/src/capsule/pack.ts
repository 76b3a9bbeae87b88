/**
 * Packing (and sealing) a version 2 capsule from any sources into any sink, in one streaming pass
 * (design §6): the entries in index order with their chunk trees and the index pages in post-order,
 * then the manifest, its signature and the central directory.
 */
import { randomBytes } from "@noble/hashes/utils.js";
import { fileKeyDeriver, fileKeyPrk, keyCommitment, namesKey, streamAad } from "../crypto/kdf.js";
import {
  MAX_RECIPIENTS,
  type Stanza,
  wrapToPassphraseWithSalt,
  wrapToX25519WithEphemeral,
} from "../crypto/recipients.js";
import type { StreamKey } from "../engine/blocks.js";
import { type Engine, inlineEngine } from "../engine/engine.js";
import type { QcapNative } from "../engine/native.js";
import { fail } from "../errors.js";
import { compareNames, MODE_FILE } from "../format/entries.js";
import { sealName } from "../format/hidden-names.js";
import {
  AEAD,
  encodeManifest,
  FORMAT_VERSION,
  MANIFEST_NAME,
  type Manifest,
  type Seal,
  SIGNATURE_NAME,
} from "../format/manifest.js";
import { PageTreeBuilder } from "../format/page-tree.js";
import { MAX_ENTRIES } from "../format/pages.js";
import { toHex } from "../hash/hex.js";
import type { Sink } from "../io/sink.js";
import { sign } from "../keys/ed25519.js";
import { NameSet, utf8Length, validateEntryName } from "../zip/names.js";
import { type DirectorySpill, ZipWriter } from "../zip/writer.js";
import { CompactNameSet } from "./compact-names.js";
import { type NameSorter, sortInMemory } from "./name-order.js";
import { batchEntries, type NamedInput, type Segment, segments } from "./pack-batches.js";
import { Scratch, type WrittenEntry, writeEntry, writeStoredEntries } from "./pack-entry.js";

export { sealsNatively } from "./pack-entry.js";

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
  /** Hide payload names behind keyed hashes of them (sealed capsules only). */
  hideNames?: boolean;
  /**
   * With hidden names, how a stream of inputs is put in the order of their hashes: by default held
   * and sorted in memory; on Node `spillSorter()` keeps memory bounded, and `alreadySorted` suits a
   * source in that order already (a capsule re-sealed with the same master key).
   */
  nameSorter?: NameSorter;
  /** Called with the number of input bytes just processed. */
  onProgress?: (bytes: number) => void;
  /**
   * Where large entries are sealed and hashed (on Node: `createEngine()`: native kernels, worker
   * threads). Absent: the native kernels where loaded, else the calling thread. The output is the
   * same byte for byte.
   */
  engine?: Engine;
  /**
   * Reads and seals small files in batches (default: the engine's). The output is the same byte
   * for byte.
   */
  smallFiles?: SmallFileBatcher;
  /**
   * Where the central directory's full blocks wait until the end (on Node: `fileSpill()`, a
   * temporary file), so memory does not grow with the number of entries. Absent: in memory.
   */
  directorySpill?: () => DirectorySpill;
  /**
   * Seal with this master key, capsule id and recipient stanzas (which must wrap that key) instead
   * of new ones: re-signing a capsule for other recipients keeps every stored byte of its entries.
   * `recipients` and `passphrase` must then be absent.
   */
  reuseSeal?: { masterKey: Uint8Array; capsuleId: Uint8Array; stanzas: Stanza[] };
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

/**
 * Packs `inputs` into `sink`. An array is checked and ordered here; an async iterable must yield its
 * inputs in index order (UTF-8 byte order of their names, e.g. `walkInputs` on Node) and is then
 * packed as it is read, its names checked in compact memory, so that memory does not grow with the
 * number of inputs. With hidden names a stream may come in any order: `nameSorter` orders it.
 */
export async function pack(
  inputs: PackInput[] | AsyncIterable<PackInput>,
  sink: Sink,
  options: PackOptions,
): Promise<PackResult> {
  try {
    return await packInto(inputs, sink, options);
  } catch (err) {
    await sink.abort().catch(() => {});
    throw err;
  }
}

/** Checks one input's name and size: a bad one is the caller's input error (exit 2). */
function checkInput(input: PackInput, names: { add(name: string): void }): void {
  try {
    validateEntryName(input.name);
    names.add(input.name);
  } catch (err) {
    fail("input", (err as Error).message);
  }
  if (!input.name.startsWith("payload/") && !input.name.startsWith("meta/")) {
    fail("input", `"${input.name}" must be under payload/ or meta/`);
  }
  if (!Number.isSafeInteger(input.size) || input.size < 0) fail("input", `${input.name}: invalid size`);
}

/** Names and sizes of the inputs as a whole. */
function checkInputs(inputs: readonly PackInput[]): void {
  if (inputs.length > MAX_ENTRIES) fail("input", `a capsule holds at most ${MAX_ENTRIES} entries`);
  const names = new NameSet();
  for (const input of inputs) checkInput(input, names);
}

/** Inputs of a stream, checked as they come: names, sizes, count and, unless `anyOrder`, index order. */
async function* checkedStream(
  inputs: AsyncIterable<PackInput>,
  anyOrder: boolean,
): AsyncGenerator<PackInput> {
  const names = new CompactNameSet();
  let previous: string | null = null;
  for await (const input of inputs) {
    if (names.size >= MAX_ENTRIES) fail("input", `a capsule holds at most ${MAX_ENTRIES} entries`);
    checkInput(input, names);
    if (!anyOrder) {
      if (previous !== null && compareNames(previous, input.name) >= 0)
        fail("input", `inputs out of order: "${input.name}" after "${previous}"`);
      previous = input.name;
    }
    yield input;
  }
}

/** Names hidden at a time: the native kernels seal a batch of names in one call. */
const NAME_BATCH = 1024;

/** Each input under its ZIP name: hidden ones (payload/ under `nk`) sealed a batch at a time. */
async function* named(
  inputs: AsyncIterable<PackInput>,
  nk: Uint8Array | null,
  native: QcapNative | undefined,
): AsyncGenerator<NamedInput> {
  if (!nk) {
    for await (const input of inputs) yield { input, name: input.name, sealedName: NO_NAME };
    return;
  }
  const hideAll = (batch: PackInput[]): NamedInput[] => {
    const payload = batch.filter((i) => i.name.startsWith("payload/"));
    const sealed = native?.sealNames ? sealNamesNatively(native, nk, payload) : null;
    let k = 0;
    return batch.map((input) => {
      if (!input.name.startsWith("payload/")) return { input, name: input.name, sealedName: NO_NAME };
      const s = sealed
        ? (sealed[k++] as { zipName: string; sealedName: Uint8Array })
        : sealName(nk, input.name);
      return { input, name: s.zipName, sealedName: s.sealedName };
    });
  };
  let batch: PackInput[] = [];
  for await (const input of inputs) {
    batch.push(input);
    if (batch.length < NAME_BATCH) continue;
    yield* hideAll(batch);
    batch = [];
  }
  yield* hideAll(batch);
}

/** `sealName` of each input's name by the native kernels, in one call. */
function sealNamesNatively(
  native: QcapNative,
  nk: Uint8Array,
  inputs: PackInput[],
): { zipName: string; sealedName: Uint8Array }[] {
  if (inputs.length === 0) return [];
  const out = native.sealNames(
    nk,
    inputs.map((i) => i.name),
  );
  let at = 0;
  return inputs.map((i) => {
    const id = out.subarray(at, at + 16);
    const sealedLength = utf8Length(i.name) + 16;
    // A view: one buffer per batch, not an ArrayBuffer for each name.
    const sealedName = out.subarray(at + 16, at + 16 + sealedLength);
    at += 16 + sealedLength;
    return { zipName: `payload/${toHex(id)}`, sealedName };
  });
}

const NO_NAME = new Uint8Array(0);

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

async function packInto(
  source: PackInput[] | AsyncIterable<PackInput>,
  sink: Sink,
  options: PackOptions,
): Promise<PackResult> {
  const recipients = options.recipients ?? [];
  const reuse = options.reuseSeal;
  if (reuse && (recipients.length > 0 || options.passphrase !== undefined))
    fail("usage", "a reused seal takes no new recipients");
  const sealed = recipients.length > 0 || options.passphrase !== undefined || reuse !== undefined;
  if (options.hideNames && !sealed) fail("usage", "hiding names needs a recipient or a passphrase");
  if (recipients.length + (options.passphrase !== undefined ? 1 : 0) > MAX_RECIPIENTS) {
    fail("usage", `a capsule has at most ${MAX_RECIPIENTS} recipients`);
  }
  const inputs: PackInput[] | null = Array.isArray(source) ? source : null;
  if (inputs) checkInputs(inputs);

  let seal: Seal | null = null;
  let masterKey: Uint8Array | null = null;
  let capsuleId: Uint8Array | null = null;
  if (reuse) {
    if (reuse.stanzas.length === 0 || reuse.stanzas.length > MAX_RECIPIENTS)
      fail("usage", `a capsule has 1 to ${MAX_RECIPIENTS} recipients`);
    masterKey = reuse.masterKey;
    capsuleId = reuse.capsuleId;
    seal = {
      aead: AEAD,
      capsuleId: toHex(capsuleId),
      commitment: toHex(keyCommitment(masterKey, capsuleId)),
      recipients: reuse.stanzas,
      hiddenNames: options.hideNames === true,
    };
  } else if (sealed) {
    const random = options.random ?? randomBytes;
    const mk = random(32);
    const id = random(16);
    masterKey = mk;
    capsuleId = id;
    const stanzas: Stanza[] = recipients.map((r) => wrapToX25519WithEphemeral(mk, id, r, random(32)));
    if (options.passphrase !== undefined) {
      stanzas.push(await wrapToPassphraseWithSalt(mk, id, options.passphrase, options.argon2, random(16)));
    }
    seal = {
      aead: AEAD,
      capsuleId: toHex(capsuleId),
      commitment: toHex(keyCommitment(mk, id)),
      recipients: stanzas,
      hiddenNames: options.hideNames === true,
    };
  }

  // ZIP names (hidden ones are keyed hashes of the real names) and index order by their UTF-8 bytes.
  const nk = options.hideNames ? namesKey(masterKey as Uint8Array, capsuleId as Uint8Array) : null;
  const native = (options.engine ?? inlineEngine).native;
  let ordered: AsyncIterable<NamedInput>;
  if (inputs) {
    const all: NamedInput[] = [];
    for await (const item of named(fromArray(inputs), nk, native)) all.push(item);
    nk?.fill(0);
    all.sort((a, b) => compareNames(a.name, b.name));
    ordered = fromArray(all);
  } else {
    const stream = named(checkedStream(source as AsyncIterable<PackInput>, nk !== null), nk, native);
    ordered = nk ? (options.nameSorter ?? sortInMemory).sort(stream) : stream;
  }

  // Names are checked above (an array) or as they come (a stream): the writer keeps no set of them.
  const writer = new ZipWriter(sink, {
    checkNameSet: false,
    ...(options.directorySpill ? { spill: options.directorySpill() } : {}),
  });
  let count = 0;
  try {
    const pages = new PageTreeBuilder(async (name, bytes) => {
      const at = writer.offset;
      await writer.addEntry(name, MODE_FILE, bytes);
      return at;
    });
    const fileKeys = masterKey && capsuleId ? fileKeyDeriver(masterKey, capsuleId) : null;
    const scratch = new Scratch();
    const add = (item: NamedInput, w: WrittenEntry) => {
      count++;
      pages.add({
        name: w.name,
        size: w.size,
        mode: w.mode,
        crc32: w.crc32,
        digest: w.digest,
        offset: w.offset,
        treeCrc32: w.treeCrc32,
        sealedName: item.sealedName,
      });
    };
    const keyOf = (name: string): StreamKey | null =>
      sealed && name.startsWith("payload/")
        ? {
            fileKey: (fileKeys as (name: string) => Uint8Array)(name),
            aad: streamAad(capsuleId as Uint8Array, name),
          }
        : null;
    const smallFiles = options.smallFiles ?? options.engine?.smallFiles;
    let prk: Uint8Array | null = null;
    const batchKeys = (): BatchKeys => {
      prk ??= fileKeyPrk(masterKey as Uint8Array, capsuleId as Uint8Array);
      return { prk, capsuleId: capsuleId as Uint8Array };
    };
    // A batch of small files is read and sealed while the one before it is written.
    const start = (s: Segment | undefined): Promise<SmallFilesSealed> | null => {
      if (!s || s.kind !== "batch") return null;
      const jobs = s.items.map((item) => ({ input: item.input, name: item.name }));
      const p = (smallFiles as SmallFileBatcher).seal(jobs, s.encrypted ? batchKeys() : null);
      p.catch(() => {});
      return p;
    };
    const it = segments(ordered, sealed, smallFiles)[Symbol.asyncIterator]();
    try {
      let next = await it.next();
      let sealing = next.done ? null : start(next.value);
      while (!next.done) {
        const s = next.value;
        const current = sealing;
        next = await it.next();
        sealing = next.done ? null : start(next.value);
        if (s.kind === "one") {
          const name = s.item.name;
          await pages.beforeEntry();
          add(s.item, await writeEntry(writer, s.item.input, name, sealed, keyOf(name), options, scratch));
          continue;
        }
        const batch = (await current) as SmallFilesSealed;
        const items = [...batchEntries(s.items, s.encrypted, batch)];
        // A full level-0 page goes between two entries of a batch: written in runs that fit the page.
        for (let at = 0; at < items.length; ) {
          await pages.beforeEntry();
          const run = items.slice(at, at + pages.room());
          const written = await writeStoredEntries(writer, run);
          for (const [i, w] of written.entries()) add(run[i] as (typeof run)[number], w);
          at += run.length;
        }
        options.onProgress?.(items.reduce((n, w) => n + w.input.size, 0));
      }
    } finally {
      await it.return?.(undefined);
      // The batcher took its copy of the key when each batch started.
      (prk as Uint8Array | null)?.fill(0);
      nk?.fill(0);
    }
    const tree = await pages.finish();
    const manifest: Manifest = {
      qcap: FORMAT_VERSION,
      issuer: toHex(options.signingKey.publicKey),
      entries: count,
      root: toHex(tree.root),
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
