import { fail } from "../errors.js";

const HEX = /^[0-9a-f]*$/;

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Parses lowercase hex of exactly `length` bytes (any length when omitted). */
export function fromHex(hex: string, length?: number, what = "hex value"): Uint8Array {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !HEX.test(hex))
    fail("format", `${what}: not lowercase hex`);
  if (length !== undefined && hex.length !== length * 2) fail("format", `${what}: expected ${length} bytes`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Constant-time equality for digests and MACs. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}
