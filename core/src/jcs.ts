/** Canonical JSON (RFC 8785, JCS) as SPEC §1 defines it: the manifest, grants, revocation lists, key files. */
import canonicalizeModule from "canonicalize";

// The package is CommonJS (`module.exports = serialize`); its typings describe an ES default export.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string;
const encoder = new TextEncoder();

/** The JCS text of `value`. */
export function jcsText(value: unknown): string {
  return canonicalize(value);
}

/** The UTF-8 bytes of the JCS text of `value`. */
export function jcs(value: unknown): Uint8Array {
  return encoder.encode(canonicalize(value));
}
