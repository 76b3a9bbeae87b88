/** Key derivation of SPEC §5.1, §5.2 and §5.4. */
import { extract, hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { assertBytes, concatBytes, utf8 } from "./bytes.js";

export const MASTER_KEY_BYTES = 32;
export const CAPSULE_ID_BYTES = 16;

/** `HKDF(ikm, salt, info)` of SPEC §1: HKDF-SHA256 giving 32 bytes. */
export function hkdf32(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Uint8Array {
  return hkdf(sha256, ikm, salt, info, 32);
}

const FILE_KEY_INFO = utf8("qcap/v1 file key\0");
const NAMES_INFO = utf8("qcap/v1 names");
const COMMITMENT_INFO = utf8("qcap/v1 key commitment");
const AAD_PREFIX = utf8("qcap/v1\0");

function checkKeys(masterKey: Uint8Array, capsuleId: Uint8Array): void {
  assertBytes(masterKey, MASTER_KEY_BYTES, "masterKey");
  assertBytes(capsuleId, CAPSULE_ID_BYTES, "capsuleId");
}

/** `fileKey = HKDF(masterKey, capsuleId, "qcap/v1 file key" || 0x00 || utf8(name))` (§5.1). */
export function fileKey(masterKey: Uint8Array, capsuleId: Uint8Array, name: string): Uint8Array {
  checkKeys(masterKey, capsuleId);
  return hkdf32(masterKey, capsuleId, concatBytes(FILE_KEY_INFO, utf8(name)));
}

/**
 * `fileKey` for many names under one master key: HKDF's extract step depends only on the master key
 * and capsule id, so it runs once here and each name costs one HMAC (packing many small files).
 */
export function fileKeyDeriver(masterKey: Uint8Array, capsuleId: Uint8Array): (name: string) => Uint8Array {
  const prk = fileKeyPrk(masterKey, capsuleId);
  // HKDF-Expand to 32 bytes is one HMAC(prk, info || 0x01); the keyed HMAC state is cloned per name.
  const keyed = hmac.create(sha256, prk);
  prk.fill(0);
  return (name) => keyed.clone().update(FILE_KEY_INFO).update(utf8(name)).update(ONE).digest();
}

const ONE = Uint8Array.of(1);

/**
 * HKDF's extract step of every file key (a secret): `fileKey(name)` is HKDF-Expand of it with the
 * name's info, for derivations done elsewhere (the native small-file batches). Zero it after use.
 */
export function fileKeyPrk(masterKey: Uint8Array, capsuleId: Uint8Array): Uint8Array {
  checkKeys(masterKey, capsuleId);
  return extract(sha256, masterKey, capsuleId);
}

/** Key of the hidden-names blob: `HKDF(masterKey, capsuleId, "qcap/v1 names")` (§5.4). */
export function namesKey(masterKey: Uint8Array, capsuleId: Uint8Array): Uint8Array {
  checkKeys(masterKey, capsuleId);
  return hkdf32(masterKey, capsuleId, NAMES_INFO);
}

/**
 * Key commitment `HKDF(masterKey, capsuleId, "qcap/v1 key commitment")` (§5.4): Poly1305 does not
 * bind a ciphertext to one key, so readers check that what they unwrapped is the key the issuer signed.
 */
export function keyCommitment(masterKey: Uint8Array, capsuleId: Uint8Array): Uint8Array {
  checkKeys(masterKey, capsuleId);
  return hkdf32(masterKey, capsuleId, COMMITMENT_INFO);
}

/** STREAM associated data `"qcap/v1" || 0x00 || capsuleId || utf8(name)` (§5.2). */
export function streamAad(capsuleId: Uint8Array, name: string): Uint8Array {
  assertBytes(capsuleId, CAPSULE_ID_BYTES, "capsuleId");
  return concatBytes(AAD_PREFIX, capsuleId, utf8(name));
}
