/**
 * Small local files read and sealed in batches by the native kernels (Node, `@qcap/native`): with
 * thousands of files the per-file system calls, allocations and crypto calls from JavaScript are
 * most of the work. `pack` takes a batcher through `PackOptions.smallFiles`.
 */
import { getSystemErrorName } from "node:util";
import { PLAIN_CHUNK, streamSubkey } from "./crypto/stream.js";
import { fail } from "./errors.js";
import { localPathOf } from "./inputs-node.js";
import { fsReason } from "./io/source-node.js";
import { nativeThreads, qcapNative } from "./native.js";
import type { SmallFileBatcher } from "./pack.js";

/** Files per batch, and stored bytes per batch at most (one batch is sealed while the last is written). */
const BATCH_FILES = 256;
const BATCH_BYTES = 4 * 1024 * 1024;

/** The native batcher, or undefined where `@qcap/native` is not loaded (or not on a Unix system). */
export function nativeSmallFiles(): SmallFileBatcher | undefined {
  const na = qcapNative;
  if (!na?.sealSmallFiles) return undefined;
  return {
    maxSize: PLAIN_CHUNK,
    maxFiles: BATCH_FILES,
    maxBytes: BATCH_BYTES,
    accepts: (input) => localPathOf(input) !== undefined && input.size <= PLAIN_CHUNK,
    async seal(jobs) {
      const paths = jobs.map((j) => localPathOf(j.input) as string);
      const sealed = jobs.length > 0 && jobs[0]?.key != null;
      const subkeys = sealed ? new Uint8Array(32 * jobs.length) : null;
      const aadEnds: number[] = [];
      let aadLength = 0;
      for (const j of jobs) aadLength += j.key?.aad.length ?? 0;
      const aads = new Uint8Array(aadLength);
      let at = 0;
      jobs.forEach((j, i) => {
        if ((j.key != null) !== sealed) throw new Error("a batch is either sealed or not");
        if (j.key && subkeys) {
          const k = streamSubkey(j.key.fileKey);
          subkeys.set(k, 32 * i);
          k.fill(0);
          aads.set(j.key.aad, at);
          at += j.key.aad.length;
        }
        aadEnds.push(at);
      });
      const r = await na.sealSmallFiles(
        paths,
        jobs.map((j) => j.input.size),
        subkeys,
        aads,
        aadEnds,
        nativeThreads(),
      );
      subkeys?.fill(0);
      if (r.failed >= 0) {
        const job = jobs[r.failed] as (typeof jobs)[number];
        const path = paths[r.failed] as string;
        if (r.failedRead > job.input.size) fail("input", `${job.input.name}: changed while packing (grew)`);
        if (r.failedRead >= 0) {
          const expected = `expected ${job.input.size} bytes, read ${r.failedRead}`;
          fail("input", `${job.input.name}: changed while packing (${expected})`);
        }
        const code = r.failedErrno > 0 ? getSystemErrorName(-r.failedErrno) : undefined;
        fail(
          "input",
          `cannot read ${path}: ${fsReason(Object.assign(new Error(r.failedMessage), { code }))}`,
        );
      }
      return r;
    },
  };
}
