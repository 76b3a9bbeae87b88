/**
 * Hidden names (design §3): a payload entry's ZIP name is `payload/` + hex(nameId), nameId the first
 * 16 bytes of BLAKE3 keyed with the names key over the real name; its leaf record carries the real
 * name sealed with XChaCha20-Poly1305 under the same key.
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { blake3 as keyedBlake3 } from "@noble/hashes/blake3.js";
import { fail } from "../errors.js";
import { toHex } from "../hash/hex.js";
import { validateEntryName } from "../zip/names.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `BLAKE3_keyed(namesKey, utf8(realName))[0:16]`. */
export function nameId(namesKey: Uint8Array, realName: string): Uint8Array {
  return keyedBlake3(encoder.encode(realName), { key: namesKey }).subarray(0, 16);
}

/** The ZIP name of the payload entry whose real name is `realName`. */
export const hiddenZipName = (namesKey: Uint8Array, realName: string): string =>
  `payload/${toHex(nameId(namesKey, realName))}`;

const nonceOf = (id: Uint8Array): Uint8Array => {
  const nonce = new Uint8Array(24);
  nonce.set(id);
  return nonce;
};

/** The sealed real name of a leaf record: ciphertext then 16-byte tag. */
export function sealName(
  namesKey: Uint8Array,
  realName: string,
): { zipName: string; sealedName: Uint8Array } {
  const id = nameId(namesKey, realName);
  const zipName = `payload/${toHex(id)}`;
  const sealedName = xchacha20poly1305(namesKey, nonceOf(id), encoder.encode(zipName)).encrypt(
    encoder.encode(realName),
  );
  return { zipName, sealedName };
}

/** The real name sealed in a leaf record, checked to be the one its ZIP name was made from. */
export function openSealedName(namesKey: Uint8Array, zipName: string, sealedName: Uint8Array): string {
  const m = /^payload\/([0-9a-f]{32})$/.exec(zipName);
  if (!m) return fail("format", `${zipName} is not a hidden payload name`);
  const id = Uint8Array.from((m[1] as string).match(/../g) ?? [], (b) => Number.parseInt(b, 16));
  let real: string;
  try {
    const plain = xchacha20poly1305(namesKey, nonceOf(id), encoder.encode(zipName)).decrypt(sealedName);
    real = decoder.decode(plain);
  } catch {
    return fail("decrypt", `cannot decrypt the hidden name of ${zipName}`);
  }
  if (!real.startsWith("payload/")) fail("format", `the hidden name of ${zipName} is not under payload/`);
  validateEntryName(real);
  if (hiddenZipName(namesKey, real) !== zipName)
    fail("integrity", `the hidden name of ${zipName} does not match its name id`);
  return real;
}
