/**
 * Small local files read and sealed in batches by the native kernels (Node, `@qcap/native`): with
 * thousands of files the per-file system calls, allocations and crypto calls from JavaScript are
 * most of the work. `pack` takes a batcher through `PackOptions.smallFiles`.
 */
import { getSystemErrorName } from "node:util";
import type { SmallFileBatcher } from "../capsule/pack.js";
import { PLAIN_CHUNK } from "../crypto/stream.js";
import { fail } from "../errors.js";
import { localPathOf } from "../node/inputs.js";
import { fsReason } from "../node/source.js";
import { nativeThreads, type QcapNative } from "./native.js";
import { nativeFailure } from "./native-errors.js";

/** Files per batch, and stored bytes per batch at most (one batch is sealed while the last is written). */
const BATCH_FILES = 512;
const BATCH_BYTES = 4 * 1024 * 1024;

/** The batcher of the native kernels `na`, or undefined without them (or not on a Unix system). */
export function nativeSmallFiles(na: QcapNative | undefined): SmallFileBatcher | undefined {
  if (!na?.sealSmallFiles) return undefined;
  return {
    maxSize: PLAIN_CHUNK,
    maxFiles: BATCH_FILES,
    maxBytes: BATCH_BYTES,
    accepts: (input) => localPathOf(input) !== undefined && input.size <= PLAIN_CHUNK,
    async seal(jobs, keys) {
      const paths = jobs.map((j) => localPathOf(j.input) as string);
      try {
        return await na.sealSmallFiles(
          paths,
          jobs.map((j) => j.input.size),
          keys ? jobs.map((j) => j.name) : null,
          keys?.prk,
          keys?.capsuleId,
          nativeThreads(),
        );
      } catch (e) {
        const f = nativeFailure(e);
        const job = f && "index" in f && f.index !== undefined ? jobs[f.index] : undefined;
        if (!f || !job) throw e;
        if (f.code === "QCAP_FILE_CHANGED" && f.read !== undefined) {
          if (f.read > job.input.size) fail("input", `${job.input.name}: changed while packing (grew)`);
          const expected = `expected ${job.input.size} bytes, read ${f.read}`;
          fail("input", `${job.input.name}: changed while packing (${expected})`);
        }
        if (f.code === "QCAP_FILE_UNREADABLE") {
          const code = f.errno > 0 ? getSystemErrorName(-f.errno) : undefined;
          const path = localPathOf(job.input) as string;
          fail("input", `cannot read ${path}: ${fsReason(Object.assign(new Error(f.message), { code }))}`);
        }
        throw e;
      }
    },
  };
}
