/**
 * age's X25519 key encodings (Bech32, not Bech32m): recipients `age1…` (lowercase) and identities
 * `AGE-SECRET-KEY-1…` (uppercase on the wire; the checksum is computed over the lowercase form).
 * Errors never echo the input: a secret key pasted in the wrong place must not reach a log.
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { bech32 } from "@scure/base";
import { assertBytes } from "../crypto/bytes.js";
import { fail } from "../errors.js";

const RECIPIENT_HRP = "age";
const IDENTITY_HRP = "age-secret-key-";
/** Longer than any age key string (identities are 74 characters), shorter than anything absurd. */
const LIMIT = 128;

function decode32(s: string, hrp: string): Uint8Array | undefined {
  const d = bech32.decodeUnsafe(s, LIMIT);
  if (!d || d.prefix !== hrp) return undefined;
  const bytes = bech32.fromWordsUnsafe(d.words);
  return bytes && bytes.length === 32 ? bytes : undefined;
}

/** The 32-byte X25519 public key of an `age1…` recipient; an "input" error otherwise. */
export function parseRecipient(text: string): Uint8Array {
  const s = text.trim();
  if (!s.startsWith("age1")) {
    return fail(
      "input",
      s.startsWith("AGE-SECRET-KEY-")
        ? "this is an age identity (secret key), not a recipient: pass its public key age1…"
        : "not an age recipient (expected age1…)",
    );
  }
  return (
    decode32(s, RECIPIENT_HRP) ?? fail("input", "invalid age recipient: bad Bech32 encoding or checksum")
  );
}

export function encodeRecipient(publicKey: Uint8Array): string {
  assertBytes(publicKey, 32, "public key");
  return bech32.encode(RECIPIENT_HRP, bech32.toWords(publicKey), LIMIT);
}

/** The 32-byte X25519 secret of an `AGE-SECRET-KEY-1…` identity; an "input" error otherwise. */
export function parseIdentity(text: string): Uint8Array {
  const s = text.trim();
  if (!s.startsWith("AGE-SECRET-KEY-1")) {
    return fail("input", "not an age identity (expected AGE-SECRET-KEY-1…)");
  }
  // Like age: the whole string is uppercase; Bech32 checksums are over its lowercase form.
  if (s !== s.toUpperCase()) return fail("input", "invalid age identity: mixed case");
  return (
    decode32(s.toLowerCase(), IDENTITY_HRP) ??
    fail("input", "invalid age identity: bad Bech32 encoding or checksum")
  );
}

export function encodeIdentity(secret: Uint8Array): string {
  assertBytes(secret, 32, "identity secret");
  return bech32.encode(IDENTITY_HRP, bech32.toWords(secret), LIMIT).toUpperCase();
}

export function x25519PublicFromSecret(secret: Uint8Array): Uint8Array {
  assertBytes(secret, 32, "identity secret");
  return x25519.getPublicKey(secret);
}

/** A fresh X25519 identity, as `age-keygen` makes: 32 random bytes (X25519 clamps on use). */
export function generateIdentity(): { secret: Uint8Array; publicKey: Uint8Array } {
  const secret = x25519.utils.randomSecretKey();
  return { secret, publicKey: x25519.getPublicKey(secret) };
}
