/**
 * Content entries of a version 2 capsule (design §1, §2): their order, stored chunk size and modes.
 * Names are compared by the bytes of their UTF-8 encoding.
 */
import { storedSize } from "../crypto/stream.js";
import { chunkCount } from "../integrity/tree.js";

export const MODE_FILE = 0o644;
export const MODE_EXEC = 0o755;
export const PLAIN_CHUNK_SIZE = 65536;
export const SEALED_CHUNK_SIZE = 65552;

/** The mode an input of file system mode `mode` is packed with: 493 with any execute bit, else 420. */
export const packedMode = (mode: number): number => ((mode & 0o111) !== 0 ? MODE_EXEC : MODE_FILE);

/** Whether entry `name` is encrypted: a `payload/` entry of a sealed capsule. */
export const isEncrypted = (name: string, sealed: boolean): boolean => sealed && name.startsWith("payload/");

/** Stored chunk size C: 65552 for an encrypted entry, 65536 for every other (`meta/` included). */
export const storedChunkSize = (name: string, sealed: boolean): number =>
  isEncrypted(name, sealed) ? SEALED_CHUNK_SIZE : PLAIN_CHUNK_SIZE;

/** Stored length of an entry of plaintext `size`. */
export const entryStoredSize = (name: string, size: number, sealed: boolean): number =>
  isEncrypted(name, sealed) ? storedSize(size) : size;

/** Whether an entry has a chunk tree entry `index/<name>`: more than one stored chunk. */
export const hasChunkTree = (name: string, size: number, sealed: boolean): boolean =>
  chunkCount(entryStoredSize(name, size, sealed), storedChunkSize(name, sealed)) > 1;

/**
 * Orders names by the bytes of their UTF-8 encoding without encoding them: UTF-8 byte order is code
 * point order, which UTF-16 code unit order matches except where a surrogate meets a unit from
 * U+E000 to U+FFFF. Names are well-formed.
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const sx = x >= 0xd800 && x <= 0xdfff;
      const sy = y >= 0xd800 && y <= 0xdfff;
      return sx === sy ? x - y : sx ? 1 : -1;
    }
  }
  return a.length - b.length;
}

/** Byte-wise comparison of two UTF-8 encoded names. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}
