/** Ed25519 signing keys (SPEC §6): parsing, PEM export, sign and verify. */
import { ed25519 } from "@noble/curves/ed25519.js";
import { assertBytes } from "../crypto/bytes.js";
import { fail } from "../errors.js";
import {
  looksLikePem,
  parseHex32,
  parsePkcs8Pem,
  parseSpkiPem,
  pkcs8Pem,
  type SigningKey,
  signingKeyFromSeed,
  spkiPem,
} from "./ed25519-codec.js";
import { opensslEd25519 } from "./ed25519-openssl.js";
import { parseKeyFile } from "./keyfile.js";

export type { SigningKey };

/**
 * A signing key from a 64-hex seed (whitespace ignored), a PKCS#8 PEM Ed25519 private key (as
 * `openssl genpkey -algorithm ed25519` writes) or a Q-Cap key file. "input" errors never echo the text.
 */
export function parseSigningKey(text: string): SigningKey {
  const t = text.trim();
  if (t.startsWith("{")) return parseKeyFile(t).signing;
  if (looksLikePem(t)) return signingKeyFromSeed(parsePkcs8Pem(t));
  const seed = parseHex32(t);
  if (seed) return signingKeyFromSeed(seed);
  if (t.startsWith("AGE-SECRET-KEY-"))
    return fail("input", "this is an age identity, not an Ed25519 signing key");
  return fail(
    "input",
    "not an Ed25519 signing key (expected 64 hex digits, a PKCS#8 PEM private key or a Q-Cap key file)",
  );
}

/**
 * An Ed25519 public key from 64 hex digits or an SPKI PEM (`-----BEGIN PUBLIC KEY-----`). Points
 * off the curve and weak keys of small order are "input" errors.
 */
export function parsePublicKey(text: string): Uint8Array {
  const t = text.trim();
  const pub = looksLikePem(t)
    ? parseSpkiPem(t)
    : (parseHex32(t) ??
      fail("input", "not an Ed25519 public key (expected 64 hex digits or a PEM public key)"));
  let small: boolean;
  try {
    small = ed25519.Point.fromBytes(pub).isSmallOrder();
  } catch {
    return fail("input", "invalid Ed25519 public key: not a point of the curve");
  }
  // A small-order key has signatures valid for any message (some verifiers, OpenSSL among them, accept them).
  if (small) fail("input", "invalid Ed25519 public key: a weak key of small order");
  return pub;
}

/** SPKI PEM of a public key, for `openssl pkeyutl -verify -pubin -inkey`. */
export function publicKeyToPem(publicKey: Uint8Array): string {
  assertBytes(publicKey, 32, "public key");
  return spkiPem(publicKey);
}

/** PKCS#8 PEM of a seed, as `openssl genpkey -algorithm ed25519` writes it. */
export function seedToPem(seed: Uint8Array): string {
  assertBytes(seed, 32, "seed");
  return pkcs8Pem(seed);
}

/** Pure Ed25519 (RFC 8032) signature of `message`. */
export function sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  assertBytes(seed, 32, "seed");
  return opensslEd25519()?.sign(seed, message) ?? ed25519.sign(message, seed);
}

/**
 * Strict RFC 8032 verification (canonical encodings required, not ZIP-215). False for any malformed
 * input rather than an exception.
 */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    // A signature OpenSSL accepts (S < L, R as encoded: canonical, cofactorless equation) under a key
    // that decodes canonically and is not of small order is one noble's strict check accepts too, and
    // costs no point tables; anything else is decided by noble, so the accepted set is noble's.
    if (opensslEd25519()?.verify(publicKey, message, signature) && strictKey(publicKey)) return true;
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** Whether `publicKey` is a canonical encoding of a point that is not of small order. */
function strictKey(publicKey: Uint8Array): boolean {
  try {
    return !ed25519.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch {
    return false;
  }
}
