/**
 * Small entries (one chunk each, no chunk tree) in batches: entries that follow one another in the
 * capsule are read with one request and checked together, so that many small files cost neither a
 * request nor a promise each. `verifyAll` checks them so, and `extract` opens them so (writing with
 * synchronous calls); the native kernels do the same on threads of their own
 * (`engine/small-entries-native.ts`).
 */
import { streamAad } from "../crypto/kdf.js";
import { chunkCipher } from "../crypto/stream.js";
import { fail } from "../errors.js";
import { blake3 } from "../hash/blake3.js";
import { equalBytes } from "../hash/hex.js";
import { dataDescriptor, localHeader } from "../zip/layout.js";
import type { Capsule, CapsuleEntry } from "./capsule.js";
import type { EntryKeys } from "./unlock.js";

/** Entries per batch, and bytes of the capsule one batch reads at most. */
export const BATCH_ENTRIES = 1024;
export const BATCH_SPAN = 8 * 1024 * 1024;

/** One small entry to write: where (relative to the staging tree) and with which creation mode. */
export interface SmallEntryJob {
  entry: CapsuleEntry;
  /** `/`-separated path below the folder written into. */
  path: string;
  /** The path shown in messages. */
  shown: string;
  /** Creation mode before the umask: 0o666, or 0o777 for executables. */
  mode: number;
}

/** Entries that lie one after the other in a region of the capsule, all sealed or all in the clear. */
export interface SmallBatch<J extends { entry: CapsuleEntry } = SmallEntryJob> {
  jobs: J[];
  /** The region holding every job's local header and stored bytes (and data descriptor, if asked). */
  start: number;
  end: number;
  encrypted: boolean;
}

/** Whether `e` is read as one chunk with no chunk tree: a candidate for a batch. */
export function isSmallEntry(e: CapsuleEntry): boolean {
  return e.index === null && e.stored <= e.chunkSize;
}

/** Whether entry `name` of `capsule` is stored encrypted. */
export function isEncrypted(capsule: Capsule, name: string): boolean {
  return capsule.sealed && name.startsWith("payload/");
}

/** Bytes of a data descriptor (signature, CRC-32, two 64-bit sizes). */
const DESCRIPTOR_BYTES = 24;

/**
 * Gathers jobs into batches: a job joins the open batch when it lies after the batch's last entry,
 * keeps the batch within `BATCH_ENTRIES` and `BATCH_SPAN`, and is sealed exactly when the batch is.
 * With `descriptors`, each entry's data descriptor is part of the region.
 */
export class SmallBatcher<J extends { entry: CapsuleEntry } = SmallEntryJob> {
  #batch: SmallBatch<J> | null = null;

  constructor(
    private readonly capsule: Capsule,
    private readonly descriptors = false,
  ) {}

  /** Adds `job`; returns the batch it closed, if it did not fit there. */
  add(job: J): SmallBatch<J> | null {
    const e = job.entry;
    const start = e.placed.offset;
    const end = e.placed.dataOffset + e.stored + (this.descriptors ? DESCRIPTOR_BYTES : 0);
    const encrypted = isEncrypted(this.capsule, e.name);
    const b = this.#batch;
    if (
      b &&
      start >= b.end &&
      end - b.start <= BATCH_SPAN &&
      b.jobs.length < BATCH_ENTRIES &&
      b.encrypted === encrypted
    ) {
      b.jobs.push(job);
      b.end = end;
      return null;
    }
    this.#batch = { jobs: [job], start, end, encrypted };
    return b;
  }

  /** The open batch, which is then closed. */
  take(): SmallBatch<J> | null {
    const b = this.#batch;
    this.#batch = null;
    return b;
  }
}

/** The file key of a sealed entry, or the errors of a missing one. */
export function fileKeyOf(name: string, keys: EntryKeys | undefined): Uint8Array {
  if (!keys) return fail("decrypt", "the capsule is sealed: an identity or passphrase is needed");
  const key = keys.fileKey(name);
  if (!key) return fail("unauthorized", `no key for ${name}`);
  return key;
}

/**
 * The verified stored bytes of every job of `batch`, in order, from one read of its region: each
 * entry's local header, digest and (with `descriptors`) data descriptor are checked before it is
 * handed out.
 */
export async function* checkedBatch<J extends { entry: CapsuleEntry }>(
  capsule: Capsule,
  batch: SmallBatch<J>,
  descriptors = false,
): AsyncGenerator<{ job: J; stored: Uint8Array }> {
  const span = await capsule.source.read(batch.start, batch.end - batch.start);
  if (span.length !== batch.end - batch.start) fail("integrity", "the capsule is truncated");
  for (const job of batch.jobs) {
    const e = job.entry;
    const at = e.placed.offset - batch.start;
    const data = at + e.placed.dataOffset - e.placed.offset;
    if (!equalBytes(span.subarray(at, data), localHeader(e.name)))
      fail("integrity", `${e.name}: local header does not match`);
    const stored = span.subarray(data, data + e.stored);
    if (!equalBytes(blake3(stored), e.digest))
      fail("integrity", `${e.name}: chunk 0 does not match the signed digest`);
    const end = data + e.stored;
    if (
      descriptors &&
      !equalBytes(span.subarray(end, end + DESCRIPTOR_BYTES), dataDescriptor(e.placed.crc32, e.stored))
    )
      fail("integrity", `${e.name}: data descriptor does not match`);
    yield { job, stored };
  }
}

/**
 * The verified plaintext of every job of `batch`, in order (`checkedBatch`, then decrypted). Each
 * plaintext is valid until the next one is requested.
 */
export async function* batchPlaintexts(
  capsule: Capsule,
  batch: SmallBatch,
  keys: EntryKeys | undefined,
): AsyncGenerator<{ job: SmallEntryJob; plain: Uint8Array }> {
  for await (const { job, stored } of checkedBatch(capsule, batch)) {
    if (!batch.encrypted) {
      yield { job, plain: stored };
      continue;
    }
    const name = job.entry.name;
    const cipher = chunkCipher(fileKeyOf(name, keys), streamAad(keys?.capsuleId as Uint8Array, name));
    yield { job, plain: cipher.open(0, true, stored) };
  }
}
