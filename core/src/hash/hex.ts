/** Hex fields of the manifest and other signed documents: strict lowercase, errors a user can read. */
import { parseHex } from "../crypto/bytes.js";
import { fail } from "../errors.js";

export { equalBytes, toHex } from "../crypto/bytes.js";

/** Parses lowercase hex of exactly `length` bytes (any length when omitted); a "format" error otherwise. */
export function fromHex(hex: string, length?: number, what = "hex value"): Uint8Array {
  const bytes = typeof hex === "string" ? parseHex(hex, { lowercase: true }) : undefined;
  if (bytes === undefined) return fail("format", `${what}: not lowercase hex`);
  if (length !== undefined && bytes.length !== length) fail("format", `${what}: expected ${length} bytes`);
  return bytes;
}
