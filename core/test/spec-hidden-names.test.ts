/**
 * SPEC §5.4 hidden names: core/test-vectors/hidden-names.json, computed from fixed inputs with
 * independent primitives (BLAKE3 keyed mode, XChaCha20-Poly1305, HKDF-SHA256 from node:crypto) and
 * checked against the library's names key. Rewritten only with QCAP_WRITE_VECTORS=1:
 *
 *   QCAP_WRITE_VECTORS=1 npx vitest run --project core core/test/spec-hidden-names
 */
import { hkdfSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { describe, expect, test } from "vitest";
import { namesKey } from "../src/crypto/kdf.js";
import { loadVectors, vectorsDir } from "./spec-helpers.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const det = (label: string, n: number) => blake3(new TextEncoder().encode(label), { dkLen: n });
const MASTER = det("qcap spec vectors: hidden names master key", 32);
const CAPSULE_ID = det("qcap spec vectors: hidden names capsule id", 16);
const REAL = ["payload/a.txt", "payload/données/été.tif", "payload/😀", "payload/｡"];

function compute() {
  const key = new Uint8Array(hkdfSync("sha256", MASTER, CAPSULE_ID, "qcap/v1 names", 32));
  const entries = REAL.map((name) => {
    const real = new TextEncoder().encode(name);
    const nameId = blake3(real, { key }).slice(0, 16);
    const zipName = `payload/${hex(nameId)}`;
    const nonce = new Uint8Array(24);
    nonce.set(nameId);
    const sealedName = xchacha20poly1305(key, nonce, new TextEncoder().encode(zipName)).encrypt(real);
    return { name, nameUtf8: hex(real), nameId: hex(nameId), zipName, sealedName: hex(sealedName) };
  });
  const zipOrder = entries
    .map((e) => e.zipName)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return {
    description:
      "SPEC §5.4 hidden names. namesKey = HKDF(masterKey, capsuleId, 'qcap/v1 names'); for a real name R (the full name, payload/ included): nameId = BLAKE3_keyed(namesKey, utf8(R))[0:16], zipName = 'payload/' || hex(nameId), sealedName = XChaCha20-Poly1305(namesKey, nonce = nameId || 0x00*8, aad = utf8(zipName), utf8(R)) (ciphertext then tag). zipOrder is the index order of the ZIP names.",
    masterKey: hex(MASTER),
    capsuleId: hex(CAPSULE_ID),
    namesKey: hex(key),
    entries,
    zipOrder,
  };
}

describe("hidden-names.json", () => {
  const expected = compute();
  if (process.env.QCAP_WRITE_VECTORS === "1")
    writeFileSync(join(vectorsDir, "hidden-names.json"), `${JSON.stringify(expected, null, 2)}\n`);
  const v = loadVectors<ReturnType<typeof compute>>("hidden-names.json");

  test("the vector recomputes from its inputs", () => {
    expect(v).toEqual(expected);
  });

  test("the library's names key is the vector's", () => {
    expect(hex(namesKey(Buffer.from(v.masterKey, "hex"), Buffer.from(v.capsuleId, "hex")))).toBe(v.namesKey);
  });

  test("nameId covers the payload/ prefix; sealed names open only under their ZIP name", () => {
    const key = Buffer.from(v.namesKey, "hex");
    for (const e of v.entries) {
      const withoutPrefix = blake3(Buffer.from(e.name.slice("payload/".length)), { key }).slice(0, 16);
      expect(hex(withoutPrefix)).not.toBe(e.nameId);
      const nonce = new Uint8Array(24);
      nonce.set(Buffer.from(e.nameId, "hex"));
      const open = (aad: string) =>
        xchacha20poly1305(key, nonce, Buffer.from(aad)).decrypt(Buffer.from(e.sealedName, "hex"));
      expect(Buffer.from(open(e.zipName)).toString()).toBe(e.name);
      expect(() => open(v.entries.find((x) => x !== e)?.zipName as string)).toThrow();
    }
  });
});

// The format module of the packer and reader; looked up by path so that this file also runs where
// the module does not exist.
const IMPL = "../src/format/hidden-names.js";
const impl = (await import(/* @vite-ignore */ IMPL).catch(() => undefined)) as
  | {
      sealName(key: Uint8Array, name: string): { zipName: string; sealedName: Uint8Array };
      openSealedName(key: Uint8Array, zipName: string, sealed: Uint8Array): string;
    }
  | undefined;

describe.skipIf(impl === undefined)("hidden-names.json against the implementation", () => {
  const v = loadVectors<ReturnType<typeof compute>>("hidden-names.json");
  test.each(v.entries)("$name", (e) => {
    const key = Buffer.from(v.namesKey, "hex");
    const sealed = impl?.sealName(key, e.name);
    expect(sealed?.zipName).toBe(e.zipName);
    expect(hex(sealed?.sealedName as Uint8Array)).toBe(e.sealedName);
    expect(impl?.openSealedName(key, e.zipName, Buffer.from(e.sealedName, "hex"))).toBe(e.name);
  });
});
