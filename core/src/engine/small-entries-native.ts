/**
 * Batches of small entries opened by the native kernels (`@qcap/native`, `open_small_entries`): one
 * read of the capsule per batch, checks, decryption and file creation below a held folder on
 * threads of their own, names resolved component by component without following links.
 */
import { getSystemErrorName } from "node:util";
import type { Capsule } from "../capsule/capsule.js";
import { fileKeyOf, type SmallBatch } from "../capsule/small-batches.js";
import type { EntryKeys } from "../capsule/unlock.js";
import { authFailed } from "../crypto/stream.js";
import { fail } from "../errors.js";
import { fsReason } from "../node/source.js";
import type { Engine } from "./engine.js";
import { nativeFailure } from "./native-errors.js";

const count = (x: unknown): number | undefined => (Number.isSafeInteger(x) ? (x as number) : undefined);

/** Whether `capsule` can have batches opened natively: a local file and an engine with the kernels. */
export function opensSmallNatively(capsule: Capsule, engine: Engine): boolean {
  return capsule.source.fd !== undefined && engine.native?.openSmallEntries !== undefined;
}

/**
 * Checks, decrypts and writes every job of `batch` into the folder open as `dirFd` (its paths are
 * relative to it); resolves to the plaintext bytes written. Rejects with the library's error for the
 * first entry that fails; files written before it stay for the caller to remove.
 */
export async function openBatchNatively(
  capsule: Capsule,
  batch: SmallBatch,
  keys: EntryKeys | undefined,
  dirFd: number,
  engine: Engine,
): Promise<number> {
  const na = engine.native;
  const fd = capsule.source.fd;
  if (!na?.openSmallEntries || fd === undefined) throw new Error("small entries cannot be opened natively");
  const jobs = batch.jobs;
  const names = jobs.map((j) => j.entry.name);
  const digests = new Uint8Array(32 * jobs.length);
  for (const [i, j] of jobs.entries()) digests.set(j.entry.digest, 32 * i);
  let prk: Uint8Array | null = null;
  let fileKeys: Uint8Array | null = null;
  let capsuleId: Uint8Array | null = null;
  if (batch.encrypted) {
    if (!keys) fileKeyOf(names[0] as string, keys);
    capsuleId = (keys as EntryKeys).capsuleId;
    if (keys?.prk) prk = keys.prk;
    else {
      fileKeys = new Uint8Array(32 * jobs.length);
      for (const [i, name] of names.entries()) fileKeys.set(fileKeyOf(name, keys), 32 * i);
    }
  }
  try {
    return await na.openSmallEntries(
      fd,
      batch.start,
      batch.end - batch.start,
      jobs.map((j) => j.entry.placed.offset),
      names,
      jobs.map((j) => j.entry.stored),
      digests,
      prk,
      fileKeys,
      capsuleId,
      dirFd,
      jobs.map((j) => j.path),
      jobs.map((j) => j.mode),
      // Two threads in a pipeline: checking and decrypting beside the one thread that creates the
      // files (from two threads, creation in one folder serialises on the folder's lock: on ext4,
      // 100,000 files took 85 s of system time against 31 s on one thread, in the same wall time).
      2,
    );
  } catch (e) {
    const f = nativeFailure(e);
    if (f?.code === "QCAP_TRUNCATED") fail("integrity", "the capsule is truncated");
    if (f?.code === "QCAP_READ_FAILED") fail("input", `cannot read the capsule: ${f.message}`);
    const o = e as { code?: unknown; index?: unknown; errno?: unknown };
    const index = count(o.index);
    const job = index === undefined ? undefined : jobs[index];
    if (!job || typeof o.code !== "string") throw e;
    const name = job.entry.name;
    switch (o.code) {
      case "QCAP_ENTRY_HEADER":
        return fail("integrity", `${name}: local header does not match`);
      case "QCAP_ENTRY_MISMATCH":
        return fail("integrity", `${name}: chunk 0 does not match the signed digest`);
      case "QCAP_ENTRY_NOT_AUTHENTIC":
        return authFailed(0);
      case "QCAP_ENTRY_UNWRITABLE": {
        const errno = count(o.errno) ?? 0;
        const code = errno > 0 ? getSystemErrorName(-errno) : undefined;
        const cause = Object.assign(new Error((e as Error).message), { code });
        return fail("input", `cannot write ${job.shown}: ${fsReason(cause)}`, cause);
      }
    }
    throw e;
  } finally {
    fileKeys?.fill(0);
  }
}
