/** Small byte helpers shared by the crypto and key modules (browser-safe). */

import { bytesToHex } from "@noble/hashes/utils.js";

/** Lowercase hex of `bytes`. */
export const toHex = (bytes: Uint8Array): string => bytesToHex(bytes);

/** True when `s` is lowercase hex of exactly `bytes` bytes. */
export function isHex(s: unknown, bytes: number): s is string {
  // An integer count: callers pass `s.length / 2`, which an odd length must not satisfy.
  return typeof s === "string" && Number.isInteger(bytes) && s.length === 2 * bytes && /^[0-9a-f]*$/.test(s);
}

/**
 * Decodes hex (either case unless `lowercase`). Returns undefined for anything else, so callers
 * choose their own error message (and never echo a secret).
 */
export function parseHex(s: string, opts?: { lowercase?: boolean }): Uint8Array | undefined {
  if (s.length % 2 !== 0) return undefined;
  if (!(opts?.lowercase ? /^[0-9a-f]*$/ : /^[0-9a-fA-F]*$/).test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Hex decoding of a value already validated with `isHex`. */
export function fromHex(s: string): Uint8Array {
  const b = parseHex(s);
  if (b === undefined) throw new TypeError("invalid hex");
  return b;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const encoder = new TextEncoder();
export const utf8 = (s: string): Uint8Array => encoder.encode(s);

/** Constant-time equality (time depends only on the lengths). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

/** Constant-time test for an all-zero byte string. */
export function isAllZero(a: Uint8Array): boolean {
  let d = 0;
  for (const x of a) d |= x;
  return d === 0;
}

/** Throws a TypeError (a caller bug, not a user error) unless `x` is a Uint8Array of `len` bytes. */
export function assertBytes(x: unknown, len: number, what: string): asserts x is Uint8Array {
  if (!(x instanceof Uint8Array) || x.length !== len) {
    throw new TypeError(`${what} must be ${len} bytes`);
  }
}

/** Cryptographically secure random bytes (WebCrypto, available in browsers and Node ≥ 19). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}
