/**
 * Packing (and sealing) a capsule from any sources into any sink, in one streaming pass
 * (SPEC §7.1 order): entry, its index, …, manifest, signature, central directory.
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { randomBytes } from "@noble/hashes/utils.js";
import type { BlockEngine, StreamKey } from "./blocks.js";
import { MANIFEST_NAME, SIGNATURE_NAME } from "./capsule.js";
import { fileKeyDeriver, fileKeyPrk, keyCommitment, namesKey, streamAad } from "./crypto/kdf.js";
import {
  MAX_RECIPIENTS,
  type Stanza,
  wrapToPassphraseWithSalt,
  wrapToX25519WithEphemeral,
} from "./crypto/recipients.js";
import { fail, QcapError } from "./errors.js";
import { toHex } from "./hash/hex.js";
import { capsuleRoot, type RootLeaf } from "./integrity/merkle.js";
import type { Sink } from "./io/sink.js";
import { sign } from "./keys/ed25519.js";
import {
  AEAD,
  CHUNK_SIZE,
  compareEntries,
  encodeManifest,
  FORMAT_VERSION,
  hiddenName,
  type Manifest,
  type ManifestEntry,
  MODE_FILE,
  type Seal,
} from "./manifest.js";
import { batchEntries, type Segment, segment } from "./pack-batches.js";
import { Scratch, writeEntry, writeStoredEntries } from "./pack-entry.js";
import { checkNameSet, validateEntryName } from "./zip/names.js";
import { ZipWriter } from "./zip/writer.js";

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

/** Names given to pack are the caller's input: a broken name rule is an input error (exit 2). */
function asInputError(check: () => void): void {
  try {
    check();
  } catch (e) {
    if (e instanceof QcapError && e.kind === "format")
      throw new QcapError("input", `cannot pack: ${e.message}`);
    throw e;
  }
}

export async function pack(inputs: PackInput[], sink: Sink, options: PackOptions): Promise<PackResult> {
  const recipients = options.recipients ?? [];
  const sealed = recipients.length > 0 || options.passphrase !== undefined;
  if (options.hideNames && !sealed) fail("usage", "hiding names needs a recipient or a passphrase");
  if (recipients.length + (options.passphrase !== undefined ? 1 : 0) > MAX_RECIPIENTS) {
    fail("usage", `a capsule has at most ${MAX_RECIPIENTS} recipients`);
  }
  for (const input of inputs) {
    asInputError(() => validateEntryName(input.name));
    if (!input.name.startsWith("payload/") && !input.name.startsWith("meta/")) {
      fail("input", `"${input.name}" must be under payload/ or meta/`);
    }
    if (!Number.isSafeInteger(input.size) || input.size < 0) fail("input", `${input.name}: invalid size`);
  }
  asInputError(() => checkNameSet(inputs.map((i) => i.name)));
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
        const items = [...batchEntries(s.inputs, s.encrypted, batch)].map((w) => ({
          ...w,
          name: entryNames.get(w.input) as string,
        }));
        for (const written of await writeStoredEntries(writer, items)) add(written);
        options.onProgress?.(items.reduce((n, w) => n + w.input.size, 0));
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
