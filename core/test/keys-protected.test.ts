/** Passphrase-protected key files (SPEC §8.2). */
import { describe, expect, test } from "vitest";
import { toHex } from "../src/crypto/bytes.js";
import { encodeIdentity } from "../src/keys/age.js";
import { generateKeyFile, loadKeyMaterial, parseKeyFile, serializeKeyFile } from "../src/keys/keyfile.js";
import {
  fingerprint,
  isProtectedKeyFile,
  keyFilePublic,
  loadKeyMaterialUnlocked,
  protectKeyFile,
  unlockKeyFile,
} from "../src/keys/keyfile-protected.js";
import { expectQcapError, expectQcapErrorAsync, hex } from "./crypto-test-utils.js";

// Small Argon2id costs keep the tests quick; the format and the checks are the same.
const FAST = { argon2: { m: 256, t: 1, p: 1 } };

describe("protected key files", async () => {
  const k = generateKeyFile();
  const text = await protectKeyFile(k, "pässword", FAST);
  const json = JSON.parse(text);
  const seed = toHex(k.signing.seed);
  const identity = encodeIdentity(k.identity.secret);

  test("layout: public in clear, secrets encrypted", () => {
    expect(Object.keys(json)).toEqual(["type", "version", "protected", "public"]);
    expect(json.protected).toMatchObject({ kdf: "argon2id", m: 256, t: 1, p: 1 });
    expect(json.protected.salt).toMatch(/^[0-9a-f]{32}$/);
    expect(json.protected.nonce).toMatch(/^[0-9a-f]{48}$/);
    expect(json.public).toEqual(k.public);
    expect(text).not.toContain(seed);
    expect(text).not.toContain(identity);
    expect(isProtectedKeyFile(text)).toBe(true);
    expect(isProtectedKeyFile(serializeKeyFile(k))).toBe(false);
    expect(keyFilePublic(text)).toEqual(k.public);
    expect(fingerprint(k.signing.publicKey)).toMatch(/^[0-9a-f]{16}$/);
  });

  test("round trip; the passphrase is NFC-normalised", async () => {
    const u = await unlockKeyFile(text, "pa\u0308ssword"); // decomposed ä
    expect(hex(u.signing.seed)).toBe(seed);
    expect(hex(u.identity.secret)).toBe(hex(k.identity.secret));
    const m = await loadKeyMaterialUnlocked(text, async () => "pässword");
    expect(m.identities.map(hex)).toEqual([hex(k.identity.secret)]);
    // A clear file never asks for a passphrase.
    const clear = await loadKeyMaterialUnlocked(serializeKeyFile(k), async () => {
      throw new Error("asked");
    });
    expect(hex(clear.signing?.seed as Uint8Array)).toBe(seed);
    expect(hex((await unlockKeyFile(serializeKeyFile(k), "unused")).signing.seed)).toBe(seed);
  });

  test("a wrong passphrase or an edited public part is a decrypt error that leaks nothing", async () => {
    await expectQcapErrorAsync(() => unlockKeyFile(text, "password"), "decrypt", seed, identity);
    const other = generateKeyFile();
    // Swapping in another public key: the AEAD binds the public part, so the file no longer opens.
    const swapped = JSON.stringify({ ...json, public: other.public });
    const e = await expectQcapErrorAsync(() => unlockKeyFile(swapped, "pässword"), "decrypt", seed, identity);
    expect(e.message).toMatch(/wrong passphrase for the key file \(or the file was altered\)/);
  });

  test("strict parsing and Argon2id limits before any derivation", async () => {
    const variants: [unknown, RegExp][] = [
      [{ ...json, signing: { ed25519: seed } }, /unknown member "signing"/],
      [{ ...json, protected: { ...json.protected, kdf: "scrypt" } }, /kdf/],
      [{ ...json, protected: { ...json.protected, m: 4194304 } }, /exceeds the limit/],
      [{ ...json, protected: { ...json.protected, t: 0 } }, /positive integer/],
      [{ ...json, protected: { ...json.protected, nonce: "00" } }, /nonce/],
      [{ ...json, protected: { ...json.protected, extra: 1 } }, /unknown member "extra"/],
      [{ ...json, version: 2 }, /version 2/],
      [{ ...json, public: { ed25519: json.public.ed25519 } }, /missing member "recipient"/],
    ];
    for (const [v, re] of variants) {
      const err = await expectQcapErrorAsync(
        () => unlockKeyFile(JSON.stringify(v), "pässword"),
        "input",
        seed,
      );
      expect(err.message).toMatch(re);
    }
    await expectQcapErrorAsync(() => unlockKeyFile("{not json", "x"), "input");
    await expectQcapErrorAsync(() => protectKeyFile(k, "", FAST), "usage");
  });

  test("the synchronous loaders refuse a protected file with a clear message", () => {
    expect(expectQcapError(() => parseKeyFile(text), "input").message).toMatch(/passphrase-protected/);
    expect(expectQcapError(() => loadKeyMaterial(text), "input").message).toMatch(/passphrase-protected/);
  });
});
