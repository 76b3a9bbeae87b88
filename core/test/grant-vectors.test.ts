/**
 * Vectors of SPEC §8.2, §11 and §12: core/test-vectors/{macaroons,grants,revocations,keyfiles}.json.
 * Every input is fixed, so the outputs are exact. Checked on every run, with parts recomputed by
 * independent code (node:crypto's HMAC and Ed25519); rewritten only with QCAP_WRITE_VECTORS=1:
 *
 *   QCAP_WRITE_VECTORS=1 npx vitest run --project core core/test/grant-vectors
 */
import { createHmac, createPublicKey, verify as nodeVerify } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, test } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput, pack } from "../src/capsule/pack.js";
import { realNames } from "../src/capsule/unlock.js";
import { fromHex, toHex, utf8 } from "../src/crypto/bytes.js";
import { fileKey } from "../src/crypto/kdf.js";
import { attenuateGrant } from "../src/grant/attenuate.js";
import {
  checkGrant,
  entryCommitment,
  entryTag,
  grantRootKey,
  grantSignedMessage,
  issueGrant,
  keysAad,
  parseGrant,
  serializeGrant,
  tokenDigest,
} from "../src/grant/grant.js";
import { appendCaveats, derivedRootKey, encodeMacaroonV2, mintMacaroon } from "../src/grant/macaroon.js";
import {
  type RevocationList,
  revocationSignedMessage,
  serializeRevocationList,
  updateRevocationList,
  verifyRevocationList,
} from "../src/grant/revocation.js";
import { parseRfc3339 } from "../src/grant/time.js";
import { memorySink } from "../src/io/sink.js";
import { bytesSource } from "../src/io/source.js";
import { encodeIdentity, encodeRecipient } from "../src/keys/age.js";
import { publicKeyToPem } from "../src/keys/ed25519.js";
import { signingKeyFromSeed } from "../src/keys/ed25519-codec.js";
import { protectKeyFile, unlockKeyFile } from "../src/keys/keyfile-protected.js";
import { expectQcapError } from "./crypto-test-utils.js";

const DIR = join(import.meta.dirname, "..", "test-vectors");
const WRITE = process.env.QCAP_WRITE_VECTORS === "1";
const det = (label: string, n: number) => blake3(utf8(label), { dkLen: n });

/** Compares with (or, when writing, writes) a vector file. */
function vectors(name: string, data: unknown): void {
  const path = join(DIR, name);
  if (WRITE) writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  expect(existsSync(path), `${name} is missing: run with QCAP_WRITE_VECTORS=1`).toBe(true);
  expect(data).toEqual(JSON.parse(readFileSync(path, "utf8")));
}

const hmac = (key: Uint8Array, data: Uint8Array) =>
  new Uint8Array(createHmac("sha256", key).update(data).digest());

describe("macaroons.json", () => {
  test("HMAC-SHA256 chains with libmacaroons' key derivation and v2 JSON", () => {
    const rootKey = det("qcap grant vectors: macaroon root key", 32);
    const cases = [
      {
        identifier: utf8("0123456789abcdef0123456789abcdef"),
        caveats: ["allow = read", "expires < 2030-01-31T00:00:00Z", "path payload/public/**"],
      },
      { identifier: new Uint8Array([0xff, 0xfe, 0x00, 0x01]), caveats: ["purpose = research"] },
    ];
    const out = cases.map(({ identifier, caveats }) => {
      let m = mintMacaroon(rootKey, identifier, "qcap");
      const chain = [toHex(m.signature)];
      for (const c of caveats) {
        m = appendCaveats(m, [utf8(c)]);
        chain.push(toHex(m.signature));
      }
      // Independent recomputation with node:crypto.
      let s = hmac(hmac(utf8("macaroons-key-generator"), rootKey), identifier);
      expect(toHex(s)).toBe(chain[0]);
      for (const c of caveats) s = hmac(s, utf8(c));
      expect(toHex(s)).toBe(chain.at(-1));
      return {
        identifier: toHex(identifier),
        caveats,
        derivedKey: toHex(derivedRootKey(rootKey)),
        signatures: chain,
        json: encodeMacaroonV2(m),
      };
    });
    vectors("macaroons.json", {
      description:
        "SPEC §11.1: derivedKey = HMAC-SHA256(key='macaroons-key-generator', rootKey); signatures[0] = HMAC(derivedKey, identifier); signatures[k] = HMAC(signatures[k-1], caveat k); json is the libmacaroons v2 JSON serialization (binary fields as unpadded base64url under i64/s64).",
      rootKey: toHex(rootKey),
      location: "qcap",
      cases: out,
    });
  });
});

// ---- a fixed sealed capsule ------------------------------------------------------------------

const NOW = parseRfc3339("2030-01-01T00:00:00Z") as number;
const DAY = 86_400_000;
const ISSUER_SEED = det("qcap grant vectors: issuer seed", 32);
const OWNER = det("qcap grant vectors: owner identity", 32);
const ALICE = det("qcap grant vectors: alice identity", 32);
const BOB = det("qcap grant vectors: bob identity", 32);
const FILES: [string, string][] = [
  ["payload/public/readme.txt", "public readme\n"],
  ["payload/public/notes.md", "# notes\n"],
  ["payload/private/secret.txt", "the secret\n"],
];

/** A queue of fixed random values, one per call (pack: master key, capsule id, ephemeral key). */
function queue(labels: string[]) {
  const values = labels.map((l, i) => det(`qcap grant vectors: ${l}`, [32, 16, 32][i] as number));
  let i = 0;
  return { values, random: (n: number) => values[i++]?.slice(0, n) as Uint8Array };
}

async function fixedCapsule() {
  const q = queue(["master key", "capsule id", "sealing ephemeral"]);
  const sink = memorySink();
  await pack(
    FILES.map(([n, t]) => bytesInput(n, utf8(t))),
    sink,
    {
      signingKey: signingKeyFromSeed(ISSUER_SEED),
      recipients: [x25519.getPublicKey(OWNER)],
      random: q.random,
    },
  );
  const capsule = await Capsule.open(bytesSource(sink.bytes()));
  return { capsule, master: q.values[0] as Uint8Array };
}

describe("grants.json", () => {
  test("a grant and an attenuation, every intermediate value", async () => {
    const { capsule, master } = await fixedCapsule();
    const capsuleId = fromHex(capsule.manifest.seal?.capsuleId as string);
    const tokenId = det("qcap grant vectors: token id", 16);
    const eph1 = det("qcap grant vectors: grant ephemeral", 32);
    const eph2 = det("qcap grant vectors: attenuation ephemeral", 32);
    const rnd = [tokenId, eph1];
    const grant = await issueGrant(capsule, master, {
      signingKey: signingKeyFromSeed(ISSUER_SEED),
      audience: x25519.getPublicKey(ALICE),
      paths: ["payload/public/**"],
      expires: NOW + 30 * DAY,
      now: NOW,
      random: (n) => (rnd.shift() as Uint8Array).slice(0, n),
    });
    const narrower = attenuateGrant(grant, {
      identity: ALICE,
      to: x25519.getPublicKey(BOB),
      paths: ["payload/public/*.md"],
      expires: NOW + 7 * DAY,
      now: NOW,
      ephemeralSecret: eph2,
    });
    const entries = [...(await realNames(capsule, master))]
      .filter(([, name]) => name.startsWith("payload/public/"))
      .map(([entry, name]) => {
        const key = fileKey(master, capsuleId, entry);
        const tag = entryTag(key, capsuleId);
        return {
          entry,
          name,
          fileKey: toHex(key),
          tag: toHex(tag),
          commitment: entryCommitment(tag, entry, name),
        };
      });
    const signed = grantSignedMessage(grant.issued);
    // Independent checks: node:crypto verifies the issuer signature; noble opens the wrapped keys.
    const pem = publicKeyToPem(signingKeyFromSeed(ISSUER_SEED).publicKey);
    expect(nodeVerify(null, signed, createPublicKey(pem), grant.signature)).toBe(true);
    expect(
      checkGrant(parseGrant(serializeGrant(narrower)), { now: NOW, capsule, identity: BOB }).entries,
    ).toHaveLength(1);

    const one = (g: typeof grant, eph: Uint8Array, identity: Uint8Array) => {
      const aad = keysAad(g.issued, g.macaroon);
      const { wrapKey, shared } = wrapKeyOf(identity, fromHex(g.keys.epk));
      const plain = xchacha20poly1305(wrapKey, new Uint8Array(24), aad).decrypt(fromHex(g.keys.ciphertext));
      return {
        ephemeralSecret: toHex(eph),
        tokenDigestInput: toHex(tokenDigestInput(g.macaroon)),
        tokenDigest: toHex(tokenDigest(g.macaroon)),
        keysAad: toHex(aad),
        sharedSecret: toHex(shared),
        wrapKey: toHex(wrapKey),
        keysPlaintext: new TextDecoder().decode(plain),
        file: JSON.parse(serializeGrant(g)),
      };
    };
    vectors("grants.json", {
      description:
        "SPEC §11: a grant for payload/public/** to alice, attenuated to bob for payload/public/*.md. rootKey = HKDF(masterKey, capsuleId, 'qcap/v1 macaroon root'); tag = HKDF(fileKey, capsuleId, 'qcap/v1 grant entry tag'); commitment = BLAKE3(tag || JCS([entry, name])); the issuer signs 'qcap/v1 grant' || 0x00 || JCS(issued); keys are XChaCha20-Poly1305 under HKDF(X25519(e, aud), epk || aud, 'qcap/v1 grant x25519'), zero nonce, associated data keysAad = 'qcap/v1 grant keys' || 0x00 || BLAKE3(JCS(issued)) || tokenDigest, tokenDigest = BLAKE3(tokenDigestInput), tokenDigestInput = u32be(len(id)) || id || (u32be(len(caveat)) || caveat)* || signature (the 32-byte signature not length-prefixed).",
      now: "2030-01-01T00:00:00Z",
      issuerSeed: toHex(ISSUER_SEED),
      masterKey: toHex(master),
      capsuleId: toHex(capsuleId),
      capsuleRoot: capsule.manifest.root,
      identities: { alice: encodeIdentity(ALICE), bob: encodeIdentity(BOB) },
      recipients: {
        alice: encodeRecipient(x25519.getPublicKey(ALICE)),
        bob: encodeRecipient(x25519.getPublicKey(BOB)),
      },
      tokenId: toHex(tokenId),
      rootKey: toHex(grantRootKey(master, capsuleId)),
      entries,
      signedMessage: toHex(signed),
      grant: one(grant, eph1, ALICE),
      attenuated: one(narrower, eph2, BOB),
    });
  });
});

/** SPEC §11.5, written out: identifier and caveats length-prefixed, the final signature not. */
function tokenDigestInput(m: { identifier: Uint8Array; caveats: Uint8Array[]; signature: Uint8Array }) {
  const u32be = (n: number) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const parts = [u32be(m.identifier.length), m.identifier];
  for (const c of m.caveats) parts.push(u32be(c.length), c);
  return new Uint8Array(Buffer.concat([...parts, m.signature]));
}

function wrapKeyOf(identity: Uint8Array, epk: Uint8Array) {
  const shared = x25519.getSharedSecret(identity, epk);
  const pub = x25519.getPublicKey(identity);
  const salt = new Uint8Array([...epk, ...pub]);
  return { shared, wrapKey: hkdf(sha256, shared, salt, utf8("qcap/v1 grant x25519"), 32) };
}

describe("revocations.json", () => {
  test("a signed list, its update, and the checks a reader makes", () => {
    const key = signingKeyFromSeed(ISSUER_SEED);
    const id1 = toHex(det("qcap grant vectors: revoked 1", 16));
    const id2 = toHex(det("qcap grant vectors: revoked 2", 16));
    const first = updateRevocationList(null, {
      key,
      ids: [id1],
      reason: "key lost",
      now: NOW,
      validity: 7 * DAY,
    });
    const second = updateRevocationList(first, {
      key,
      ids: [id2],
      reason: "superseded",
      now: NOW + DAY,
      validity: 7 * DAY,
    });
    const { signature: _, ...body } = second;
    const message = revocationSignedMessage(body);
    expect(
      nodeVerify(null, message, createPublicKey(publicKeyToPem(key.publicKey)), fromHex(second.signature)),
    ).toBe(true);
    const verdict = (list: RevocationList, now: string, highestSeen?: number) => {
      try {
        verifyRevocationList(list, {
          issuer: toHex(key.publicKey),
          now: parseRfc3339(now) as number,
          ...(highestSeen ? { highestSeen } : {}),
        });
        return "accepted";
      } catch (e) {
        return (e as Error).message;
      }
    };
    vectors("revocations.json", {
      description:
        "SPEC §12: the issuer signs 'qcap/v1 revocations' || 0x00 || JCS(the list without 'signature'). Readers refuse another issuer, a bad signature, a sequence below the highest seen, and a list past nextUpdate + 24 h.",
      issuerSeed: toHex(ISSUER_SEED),
      lists: [JSON.parse(serializeRevocationList(first)), JSON.parse(serializeRevocationList(second))],
      signedMessage: toHex(message),
      checks: [
        {
          list: 1,
          now: "2030-01-02T00:00:00Z",
          highestSeen: null,
          result: verdict(second, "2030-01-02T00:00:00Z"),
        },
        {
          list: 1,
          now: "2030-01-10T00:00:00Z",
          highestSeen: null,
          result: verdict(second, "2030-01-10T00:00:00Z"),
        },
        {
          list: 1,
          now: "2030-01-10T00:00:01Z",
          highestSeen: null,
          result: verdict(second, "2030-01-10T00:00:01Z"),
        },
        {
          list: 0,
          now: "2030-01-02T00:00:00Z",
          highestSeen: 2,
          result: verdict(first, "2030-01-02T00:00:00Z", 2),
        },
      ],
    });
    expectQcapError(
      () => verifyRevocationList({ ...second, revoked: [] }, { issuer: second.issuer, now: NOW }),
      "integrity",
    );
  });
});

describe("keyfiles.json", () => {
  test("a protected key file with fixed salt and nonce", async () => {
    const seed = det("qcap grant vectors: key file seed", 32);
    const secret = det("qcap grant vectors: key file identity", 32);
    const k = {
      signing: signingKeyFromSeed(seed),
      identity: { secret, publicKey: x25519.getPublicKey(secret) },
      public: { ed25519: "", recipient: "" },
    };
    const salt = det("qcap grant vectors: key file salt", 16);
    const nonce = det("qcap grant vectors: key file nonce", 24);
    const text = await protectKeyFile(k, "correct horse battery staple", {
      argon2: { m: 1024, t: 2, p: 1 },
      salt,
      nonce,
    });
    const u = await unlockKeyFile(text, "correct horse battery staple");
    expect(toHex(u.signing.seed)).toBe(toHex(seed));
    vectors("keyfiles.json", {
      description:
        "SPEC §8.2: key = Argon2id(utf8(NFC(passphrase)), salt, m, t, p, 32); ciphertext = XChaCha20-Poly1305(key, nonce, 'qcap/v1 key file' || 0x00 || JCS(public), JCS({identity, signing})).",
      passphrase: "correct horse battery staple",
      seed: toHex(seed),
      identity: encodeIdentity(secret),
      plaintext: JSON.stringify({ identity: encodeIdentity(secret), signing: { ed25519: toHex(seed) } }),
      file: JSON.parse(text),
    });
  });
});
