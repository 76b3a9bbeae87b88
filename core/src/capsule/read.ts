/** Verified plaintext reads: whole entries and byte ranges, decrypting sealed payload. */

import { streamAad } from "../crypto/kdf.js";
import { chunkCipher, PLAIN_CHUNK } from "../crypto/stream.js";
import { fail } from "../errors.js";
import type { Capsule, CapsuleEntry } from "./capsule.js";
import type { EntryKeys } from "./unlock.js";

function decryptor(capsule: Capsule, e: CapsuleEntry, keys?: EntryKeys) {
  if (!capsule.sealed || !e.name.startsWith("payload/")) return null;
  if (!keys) return fail("decrypt", "the capsule is sealed: an identity or passphrase is needed");
  const key = keys.fileKey(e.name);
  if (!key) return fail("unauthorized", `no key for ${e.name}`);
  return chunkCipher(key, streamAad(keys.capsuleId, e.name));
}

/** The verified (and decrypted) bytes of a whole entry, chunk by chunk. */
export async function* plainChunks(
  capsule: Capsule,
  name: string,
  keys?: EntryKeys,
): AsyncGenerator<Uint8Array> {
  const e = await capsule.entry(name);
  const cipher = decryptor(capsule, e, keys);
  for await (const c of capsule.entryChunks(e))
    yield cipher ? cipher.open(c.index, c.last, c.bytes) : c.bytes;
}

/** Chunks fetched and checked at a time when streaming a range: 4 MiB, whatever the range. */
const RANGE_WINDOW_CHUNKS = 64;

/**
 * The verified plaintext of bytes `[offset, offset + length)` of an entry (clipped to its end), as
 * it is read: a window of chunks at a time, each checked before any of its bytes is returned, so
 * memory stays bounded whatever the length.
 */
export async function* rangePlainChunks(
  capsule: Capsule,
  name: string,
  offset: number,
  length: number,
  keys?: EntryKeys,
): AsyncGenerator<Uint8Array> {
  const e = await capsule.entry(name);
  if (Number.isSafeInteger(offset) && offset > e.size)
    fail("usage", `offset ${offset} is past the end of ${name} (${e.size} bytes)`);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    fail("usage", "offset and length must be non-negative integers");
  }
  const end = Math.min(e.size, offset + length);
  if (end === offset) return;
  const cipher = decryptor(capsule, e, keys);
  const first = Math.floor(offset / PLAIN_CHUNK);
  const last = Math.floor((end - 1) / PLAIN_CHUNK);
  for (let w = first; w <= last; w += RANGE_WINDOW_CHUNKS) {
    for await (const c of capsule.rangeChunks(e, w, Math.min(last, w + RANGE_WINDOW_CHUNKS - 1))) {
      const plain = cipher ? cipher.open(c.index, c.last, c.bytes) : c.bytes;
      const chunkStart = c.index * PLAIN_CHUNK;
      const a = Math.max(offset, chunkStart) - chunkStart;
      const b = Math.min(end, chunkStart + plain.length) - chunkStart;
      if (b > a) yield plain.subarray(a, b);
    }
  }
}

/**
 * Reads `length` plaintext bytes at `offset` of an entry, fetching only the chunks that hold them and
 * the index groups needed to verify those chunks.
 */
export async function readRange(
  capsule: Capsule,
  name: string,
  offset: number,
  length: number,
  keys?: EntryKeys,
): Promise<Uint8Array> {
  const e = await capsule.entry(name);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    fail("usage", "offset and length must be non-negative integers");
  }
  if (offset > e.size) fail("usage", `offset ${offset} is past the end of ${name} (${e.size} bytes)`);
  const end = Math.min(e.size, offset + length);
  if (end === offset) return new Uint8Array(0);
  const cipher = decryptor(capsule, e, keys);
  const first = Math.floor(offset / PLAIN_CHUNK);
  const last = Math.floor((end - 1) / PLAIN_CHUNK);
  const out = new Uint8Array(end - offset);
  for await (const c of capsule.rangeChunks(e, first, last)) {
    const plain = cipher ? cipher.open(c.index, c.last, c.bytes) : c.bytes;
    const chunkStart = c.index * PLAIN_CHUNK;
    const a = Math.max(offset, chunkStart) - chunkStart;
    const b = Math.min(end, chunkStart + plain.length) - chunkStart;
    if (b > a) out.set(plain.subarray(a, b), chunkStart + a - offset);
  }
  return out;
}
