/**
 * The work of one block (see `blocks.ts`), the same on any thread: sealing (encrypt, hash, CRC-32)
 * and opening (hash check, decrypt) up to 16 chunks held in a slot's buffers. With `@qcap/native`
 * a block is one native call; otherwise the chunk engines run chunk by chunk. Both give the same
 * bytes (`test/parallel.test.ts`).
 */

import {
  chunkCipher,
  chunkCipherImplementation,
  PLAIN_CHUNK,
  streamSubkey,
  TAG_BYTES,
} from "../crypto/stream.js";
import { fail } from "../errors.js";
import { blake3 } from "../hash/blake3.js";
import { crc32 } from "../hash/crc32.js";
import { equalBytes } from "../hash/hex.js";
import type { BlockSlot, FileRange, OpenJob, SealJob } from "./blocks.js";
import { qcapNative } from "./native.js";
import { rethrowChunkFailure } from "./native-errors.js";

/** The native block kernels, used when the native STREAM engine passed its known-answer test. */
const kernels = chunkCipherImplementation === "native" ? qcapNative : undefined;

export function sealBlock(s: BlockSlot, job: SealJob): { storedLength: number; crc32: number } {
  if (job.from) readFully(job.from, s.input.subarray(0, job.length));
  if (kernels) {
    const k = job.key;
    const crc = kernels.sealBlock(
      k && streamSubkey(k.fileKey),
      k?.aad ?? EMPTY,
      job.firstChunk,
      job.totalChunks,
      s.input,
      job.length,
      s.output,
      s.digests,
    );
    const chunks = Math.max(1, Math.ceil(job.length / PLAIN_CHUNK));
    return { storedLength: job.length + (k ? chunks * TAG_BYTES : 0), crc32: crc };
  }
  const cipher = job.key ? chunkCipher(job.key.fileKey, job.key.aad) : null;
  let at = 0;
  let out = 0;
  for (let c = 0; at < job.length; c++) {
    const n = Math.min(PLAIN_CHUNK, job.length - at);
    const index = job.firstChunk + c;
    const plain = s.input.subarray(at, at + n);
    const stored = cipher
      ? cipher.seal(index, index === job.totalChunks - 1, plain, s.output.subarray(out, out + n + TAG_BYTES))
      : plain;
    s.digests.set(blake3(stored), c * 32);
    at += n;
    out += stored.length;
  }
  return { storedLength: out, crc32: crc32((cipher ? s.output : s.input).subarray(0, out)) };
}

/** Positioned reads for `OpenJob.from`: Node's `fs.readSync`, loaded without a static import. */
const readSync = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: NodeJS.Process["getBuiltinModule"] } })
    .process;
  return proc?.getBuiltinModule?.("node:fs")?.readSync;
})();

const EMPTY = new Uint8Array(0);

function readFully(from: FileRange, into: Uint8Array): void {
  if (!readSync) throw new Error("no file system here");
  for (let at = 0; at < into.length; ) {
    let n: number;
    try {
      n = readSync(from.fd, into, at, into.length - at, from.position + at);
    } catch (e) {
      fail("input", `cannot read ${from.name}: ${(e as Error).message}`);
    }
    if (n === 0) fail("input", `${from.name}: changed while reading (shrank)`);
    at += n;
  }
}

export function openBlock(s: BlockSlot, job: OpenJob): { plainLength: number } {
  if (job.from) readFully(job.from, s.input.subarray(0, job.length));
  if (kernels) {
    const k = job.key;
    try {
      const plainLength = kernels.openBlock(
        k && streamSubkey(k.fileKey),
        k?.aad ?? EMPTY,
        job.firstChunk,
        job.totalChunks,
        job.chunkSize,
        s.input,
        job.length,
        job.expected,
        s.output,
      );
      return { plainLength };
    } catch (e) {
      rethrowChunkFailure(e, job.firstChunk);
    }
  }
  const cipher = job.key ? chunkCipher(job.key.fileKey, job.key.aad) : null;
  let at = 0;
  let out = 0;
  for (let c = 0; at < job.length; c++) {
    const n = Math.min(job.chunkSize, job.length - at);
    const index = job.firstChunk + c;
    const stored = s.input.subarray(at, at + n);
    if (!equalBytes(blake3(stored), job.expected.subarray(c * 32, c * 32 + 32))) {
      fail("integrity", `chunk ${index} does not match the signed digest`);
    }
    if (cipher) {
      out += cipher.open(index, index === job.totalChunks - 1, stored, s.output.subarray(out)).length;
    }
    at += n;
  }
  return { plainLength: cipher ? out : job.length };
}
