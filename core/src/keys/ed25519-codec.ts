/**
 * Encodings of Ed25519 keys: raw hex, PKCS#8 and SPKI PEM (RFC 8410). Shared by `ed25519.ts` and
 * `keyfile.ts`. Error messages never echo the input, which may hold a secret.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { base64 } from "@scure/base";
import { concatBytes, equalBytes, fromHex, parseHex } from "../crypto/bytes.js";
import { fail } from "../errors.js";
import { opensslEd25519 } from "./ed25519-openssl.js";

export interface SigningKey {
  seed: Uint8Array;
  publicKey: Uint8Array;
}

/** PKCS#8 v1 PrivateKeyInfo of an Ed25519 key, up to the 32-byte seed (RFC 8410 §7). */
const PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");
/** SubjectPublicKeyInfo of an Ed25519 key, up to the 32-byte public key (RFC 8410 §4). */
const SPKI_PREFIX = fromHex("302a300506032b6570032100");

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  return { seed, publicKey: opensslEd25519()?.publicKey(seed) ?? ed25519.getPublicKey(seed) };
}

/** 32 bytes from 64 hex digits, ignoring whitespace; undefined for anything else. */
export function parseHex32(text: string): Uint8Array | undefined {
  const s = text.replace(/\s+/g, "");
  return s.length === 64 ? parseHex(s) : undefined;
}

export const looksLikePem = (text: string): boolean => text.trimStart().startsWith("-----BEGIN ");

/** The DER bytes of the single PEM block of `text`, which must carry `label`. */
function pemDecode(text: string, label: string, what: string): Uint8Array {
  const m = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]*?)\r?\n?-----END ([A-Z0-9 ]+)-----$/.exec(
    text.trim(),
  );
  if (!m) return fail("input", `invalid ${what}: not a single PEM block`);
  const [, begin, body = "", end] = m;
  if (begin !== end) return fail("input", `invalid ${what}: PEM BEGIN and END labels differ`);
  if (begin !== label) {
    const hint =
      begin === "ENCRYPTED PRIVATE KEY"
        ? " (encrypted keys are not supported: decrypt it with `openssl pkey`)"
        : "";
    return fail("input", `invalid ${what}: PEM type ${begin}, expected ${label}${hint}`);
  }
  try {
    return base64.decode(body.replace(/\s+/g, ""));
  } catch {
    return fail("input", `invalid ${what}: bad base64 in PEM body`);
  }
}

function pemEncode(label: string, der: Uint8Array): string {
  const b64 = base64.encode(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function stripPrefix(der: Uint8Array, prefix: Uint8Array): Uint8Array | undefined {
  if (der.length !== prefix.length + 32 || !equalBytes(der.subarray(0, prefix.length), prefix))
    return undefined;
  return der.slice(prefix.length);
}

/** The seed of a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`). */
export function parsePkcs8Pem(text: string): Uint8Array {
  const what = "Ed25519 private key";
  const der = pemDecode(text, "PRIVATE KEY", what);
  return (
    stripPrefix(der, PKCS8_PREFIX) ??
    fail("input", `invalid ${what}: not an Ed25519 PKCS#8 key (expected the 48-byte RFC 8410 encoding)`)
  );
}

/** The public key of an SPKI PEM Ed25519 public key (`openssl pkey -pubout`). */
export function parseSpkiPem(text: string): Uint8Array {
  const what = "Ed25519 public key";
  const der = pemDecode(text, "PUBLIC KEY", what);
  return (
    stripPrefix(der, SPKI_PREFIX) ?? fail("input", `invalid ${what}: not an Ed25519 SubjectPublicKeyInfo`)
  );
}

export const pkcs8Pem = (seed: Uint8Array): string =>
  pemEncode("PRIVATE KEY", concatBytes(PKCS8_PREFIX, seed));
export const spkiPem = (publicKey: Uint8Array): string =>
  pemEncode("PUBLIC KEY", concatBytes(SPKI_PREFIX, publicKey));
