/**
 * Checks core/test-vectors/*.json against our code (every expected byte) and, where one exists,
 * against an independent implementation: node:crypto (OpenSSL) for HKDF, X25519, ChaCha20-Poly1305
 * and Ed25519, noble for Argon2id and hash-wasm for BLAKE3.
 */
import {
  createCipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  verify as nodeVerify,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { argon2id as nobleArgon2id } from "@noble/hashes/argon2.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { blake3 as wasmBlake3 } from "hash-wasm";
import { describe, expect, test } from "vitest";
import { concatBytes, utf8 } from "../src/crypto/bytes.js";
import { fileKey, namesKey, streamAad } from "../src/crypto/kdf.js";
import {
  type Argon2idStanza,
  kid,
  unwrapPassphrase,
  unwrapX25519,
  validateStanza,
  wrapToPassphraseWithSalt,
  wrapToX25519WithEphemeral,
} from "../src/crypto/recipients.js";
import {
  type ChunkCipherFactory,
  chunkCount,
  hchacha20,
  nativeChunkCipher,
  nobleChunkCipher,
  nodeChunkCipher,
  PLAIN_CHUNK,
  STORED_CHUNK,
  sodiumChunkCipher,
} from "../src/crypto/stream.js";
import {
  encodeIdentity,
  encodeRecipient,
  parseIdentity,
  parseRecipient,
  x25519PublicFromSecret,
} from "../src/keys/age.js";
import {
  parsePublicKey,
  parseSigningKey,
  publicKeyToPem,
  seedToPem,
  sign,
  verify,
} from "../src/keys/ed25519.js";
import { expectQcapError, hex, unhex } from "./crypto-test-utils.js";

// biome-ignore lint/suspicious/noExplicitAny: vector files are plain JSON
type Json = any;
const load = (name: string): Json =>
  JSON.parse(readFileSync(join(import.meta.dirname, "..", "test-vectors", name), "utf8"));

interface KdfEntry {
  name: string;
  nameUtf8: string;
  fileKey: string;
  aad: string;
}
interface AgeKey {
  secret: string;
  identity: string;
  publicKey: string;
  recipient: string;
}
interface Signature {
  source: string;
  seed: string;
  publicKey: string;
  message: string;
  signature: string;
}

const nodeHkdf = (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array) =>
  hex(new Uint8Array(hkdfSync("sha256", ikm, salt, info, 32)));

function nodeChaChaPoly(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): string {
  const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: pt.length });
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]).toString("hex");
}

const b64u = (b: Uint8Array) => Buffer.from(b).toString("base64url");

describe("kdf.json", () => {
  const v = load("kdf.json");
  const master = unhex(v.masterKey);
  const capsuleId = unhex(v.capsuleId);

  test("namesKey", () => {
    expect(hex(namesKey(master, capsuleId))).toBe(v.namesKey);
    expect(nodeHkdf(master, capsuleId, utf8("qcap/v1 names"))).toBe(v.namesKey);
  });

  test.each(v.entries as KdfEntry[])("fileKey and aad of $name", (e) => {
    expect(hex(utf8(e.name))).toBe(e.nameUtf8);
    expect(hex(fileKey(master, capsuleId, e.name))).toBe(e.fileKey);
    expect(nodeHkdf(master, capsuleId, concatBytes(utf8("qcap/v1 file key\0"), utf8(e.name)))).toBe(
      e.fileKey,
    );
    expect(hex(streamAad(capsuleId, e.name))).toBe(e.aad);
    expect(e.aad).toBe(`${hex(utf8("qcap/v1"))}00${v.capsuleId}${e.nameUtf8}`);
  });
});

describe("stream.json", () => {
  const v = load("stream.json");
  const key = unhex(v.fileKey);
  const aad = unhex(v.aad);

  test("keys", () => {
    expect(hex(fileKey(unhex(v.masterKey), unhex(v.capsuleId), v.name))).toBe(v.fileKey);
    expect(hex(streamAad(unhex(v.capsuleId), v.name))).toBe(v.aad);
    expect(hex(hchacha20(key, new Uint8Array(16)))).toBe(v.subkey);
  });

  const impls: [string, ChunkCipherFactory][] = [
    ["noble", nobleChunkCipher],
    ["node", nodeChunkCipher as ChunkCipherFactory],
    ["sodium", sodiumChunkCipher() as ChunkCipherFactory],
    ...(nativeChunkCipher ? [["native", nativeChunkCipher] as [string, ChunkCipherFactory]] : []),
  ];
  const caseName = (c: Json) =>
    `${c.plaintext !== undefined ? c.plaintext.length / 2 : c.plaintextLength} bytes`;
  for (const [implName, f] of impls) {
    test.each(v.cases.map((c: Json) => [caseName(c), c]) as [string, Json][])(`${implName}: %s`, (_, c) => {
      let p: Uint8Array;
      if (c.plaintext !== undefined) {
        p = unhex(c.plaintext);
      } else {
        expect(c.plaintextPattern).toBe("i mod 251");
        p = Uint8Array.from({ length: c.plaintextLength }, (_, i) => i % 251);
      }
      const m = chunkCount(p.length);
      const enc = f(key, aad);
      const chunks = Array.from({ length: m }, (_, i) =>
        enc.seal(i, i === m - 1, p.subarray(i * PLAIN_CHUNK, Math.min((i + 1) * PLAIN_CHUNK, p.length))),
      );
      const stored = concatBytes(...chunks);
      expect(chunks.map((x) => hex(x.subarray(x.length - 16)))).toEqual(c.tags);
      if (c.stored !== undefined) expect(hex(stored)).toBe(c.stored);
      else {
        expect(stored.length).toBe(c.storedLength);
        expect(hex(blake3(stored))).toBe(c.storedBlake3);
      }
      // The same bytes from OpenSSL through the subkey route, built here independently of stream.ts.
      const subkey = unhex(v.subkey);
      for (let i = 0; i < m; i++) {
        const nonce = concatBytes(new Uint8Array(4 + 6), Uint8Array.of(i, i === m - 1 ? 1 : 0));
        const pt = p.subarray(i * PLAIN_CHUNK, Math.min((i + 1) * PLAIN_CHUNK, p.length));
        expect(nodeChaChaPoly(subkey, nonce, aad, pt)).toBe(hex(chunks[i] as Uint8Array));
      }
      const dec = f(key, aad);
      const opened = concatBytes(
        ...Array.from({ length: m }, (_, i) =>
          dec.open(
            i,
            i === m - 1,
            stored.subarray(i * STORED_CHUNK, Math.min((i + 1) * STORED_CHUNK, stored.length)),
          ),
        ),
      );
      expect(hex(opened)).toBe(hex(p));
    });
  }
});

describe("recipients.json", () => {
  const v = load("recipients.json");
  const master = unhex(v.masterKey);
  const capsuleId = unhex(v.capsuleId);

  test.each(v.x25519 as Json[])("x25519 to $recipient", async (x) => {
    const secret = parseIdentity(x.identity);
    const pub = parseRecipient(x.recipient);
    expect(hex(secret)).toBe(x.identitySecret);
    expect(hex(pub)).toBe(x.recipientPublic);
    expect(hex(x25519PublicFromSecret(secret))).toBe(x.recipientPublic);
    // Independent X25519 (OpenSSL): the ephemeral public key and the shared secret.
    const eph = createPrivateKey({
      key: {
        kty: "OKP",
        crv: "X25519",
        d: b64u(unhex(x.ephemeralSecret)),
        x: b64u(x25519PublicFromSecret(unhex(x.ephemeralSecret))),
      },
      format: "jwk",
    });
    const epkJwk = createPublicKey(eph).export({ format: "jwk" });
    expect(Buffer.from(epkJwk.x as string, "base64url").toString("hex")).toBe(x.epk);
    const peer = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: b64u(pub) }, format: "jwk" });
    expect(diffieHellman({ privateKey: eph, publicKey: peer }).toString("hex")).toBe(x.shared);
    expect(x.shared).toBe("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"); // RFC 7748 §6.1
    expect(nodeHkdf(unhex(x.shared), concatBytes(unhex(x.epk), pub), utf8("qcap/v1 x25519"))).toBe(x.wrapKey);
    expect(nodeChaChaPoly(unhex(x.wrapKey), new Uint8Array(12), capsuleId, master)).toBe(x.stanza.wrappedKey);
    expect((await wasmBlake3(pub)).slice(0, 16)).toBe(x.stanza.kid);
    // Our code reproduces the stanza and opens it.
    expect(kid(pub)).toBe(x.stanza.kid);
    expect(validateStanza(x.stanza)).toEqual(x.stanza);
    expect(wrapToX25519WithEphemeral(master, capsuleId, pub, unhex(x.ephemeralSecret))).toEqual(x.stanza);
    expect(hex(unwrapX25519(x.stanza, capsuleId, secret) as Uint8Array)).toBe(v.masterKey);
  });

  test.each(v.argon2id as Json[])("argon2id with $passphrase", async (a) => {
    const s = a.stanza as Argon2idStanza;
    expect(hex(utf8(a.passphrase))).toBe(a.passphraseUtf8);
    expect(hex(nobleArgon2id(utf8(a.passphrase), unhex(s.salt), { m: s.m, t: s.t, p: s.p }))).toBe(a.wrapKey);
    expect(nodeChaChaPoly(unhex(a.wrapKey), new Uint8Array(12), capsuleId, master)).toBe(s.wrappedKey);
    expect(validateStanza(s)).toEqual(s);
    expect(await wrapToPassphraseWithSalt(master, capsuleId, a.passphrase, s, unhex(s.salt))).toEqual(s);
    expect(hex((await unwrapPassphrase(s, capsuleId, a.passphrase)) as Uint8Array)).toBe(v.masterKey);
  });
});

describe("age-keys.json", () => {
  const v = load("age-keys.json");

  test.each(v.keys as AgeKey[])("$recipient", (k) => {
    expect(encodeIdentity(unhex(k.secret))).toBe(k.identity);
    expect(hex(parseIdentity(k.identity))).toBe(k.secret);
    expect(hex(x25519PublicFromSecret(unhex(k.secret)))).toBe(k.publicKey);
    expect(encodeRecipient(unhex(k.publicKey))).toBe(k.recipient);
    expect(hex(parseRecipient(k.recipient))).toBe(k.publicKey);
  });

  test("a key made by age-keygen", () => {
    const secret = parseIdentity(v.ageKeygen.identity);
    expect(hex(secret)).toBe(v.ageKeygen.secret);
    expect(encodeIdentity(secret)).toBe(v.ageKeygen.identity);
    expect(encodeRecipient(x25519PublicFromSecret(secret))).toBe(v.ageKeygen.recipient);
  });

  test("invalid strings are refused without echoing them", () => {
    for (const r of v.invalidRecipients) expectQcapError(() => parseRecipient(r.input), "input", r.input);
    for (const r of v.invalidIdentities) expectQcapError(() => parseIdentity(r.input), "input", r.input);
  });
});

describe("ed25519.json", () => {
  const v = load("ed25519.json");

  test.each(v.signatures as Signature[])("$source", (s) => {
    const key = parseSigningKey(s.seed);
    expect(hex(key.publicKey)).toBe(s.publicKey);
    const msg = unhex(s.message);
    expect(hex(sign(key.seed, msg))).toBe(s.signature);
    expect(verify(key.publicKey, msg, unhex(s.signature))).toBe(true);
    expect(verify(key.publicKey, concatBytes(msg, Uint8Array.of(0)), unhex(s.signature))).toBe(false);
    // OpenSSL verifies it too.
    const pub = createPublicKey(publicKeyToPem(key.publicKey));
    expect(nodeVerify(null, msg, pub, unhex(s.signature))).toBe(true);
  });

  test("PEM encodings", () => {
    expect(seedToPem(unhex(v.pem.seed))).toBe(v.pem.privateKeyPem);
    expect(hex(parseSigningKey(v.pem.privateKeyPem).seed)).toBe(v.pem.seed);
    const pub = hex(parseSigningKey(v.pem.seed).publicKey);
    expect(publicKeyToPem(unhex(pub))).toBe(v.pem.publicKeyPem);
    expect(hex(parsePublicKey(v.pem.publicKeyPem))).toBe(pub);
    // OpenSSL reads both and agrees on the public key.
    const exported = createPublicKey(createPrivateKey(v.pem.privateKeyPem)).export({
      type: "spki",
      format: "pem",
    });
    expect(exported).toBe(v.pem.publicKeyPem);
  });
});
