/**
 * Ed25519 key derivation, signing and verification through Node's OpenSSL: the same bytes as noble
 * (Ed25519 is deterministic), without building noble's point tables (~25 ms at start-up) and ~20x
 * faster on large manifests. Checked once against RFC 8032 §7.1 TEST 1 (and that signature altered)
 * before use; undefined outside Node or when the check fails, and callers fall back to noble.
 * OpenSSL's verification is cofactorless, the stricter of RFC 8032's two equations: see `verify`
 * in ed25519.ts for how it is combined with the strict encoding rules.
 */
import { equalBytes, fromHex } from "../crypto/bytes.js";

type NodeCrypto = typeof import("node:crypto");

/** PKCS#8 v1 PrivateKeyInfo of an Ed25519 key, up to the 32-byte seed (RFC 8410 §7). */
const PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");
/** SubjectPublicKeyInfo of an Ed25519 key, up to the 32-byte key (RFC 8410 §4). */
const SPKI_PREFIX = fromHex("302a300506032b6570032100");

export interface OpensslEd25519 {
  publicKey(seed: Uint8Array): Uint8Array;
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /** OpenSSL's verdict: S < L, and [S]B = R + [k]A with R compared as encoded (cofactorless). */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

function make(crypto: NodeCrypto): OpensslEd25519 {
  const privateKey = (seed: Uint8Array) => {
    const der = new Uint8Array(48);
    der.set(PKCS8_PREFIX);
    der.set(seed, 16);
    try {
      return crypto.createPrivateKey({ key: der as never, format: "der", type: "pkcs8" });
    } finally {
      der.fill(0);
    }
  };
  return {
    publicKey(seed) {
      const spki = crypto.createPublicKey(privateKey(seed)).export({ format: "der", type: "spki" });
      return new Uint8Array(spki.subarray(spki.length - 32));
    },
    sign: (seed, message) => new Uint8Array(crypto.sign(null, message, privateKey(seed))),
    verify(publicKey, message, signature) {
      const der = new Uint8Array(44);
      der.set(SPKI_PREFIX);
      der.set(publicKey, 12);
      const key = crypto.createPublicKey({ key: der as never, format: "der", type: "spki" });
      return crypto.verify(null, message, key, signature);
    },
  };
}

const TEST1 = {
  seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  signature:
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};

let checked: { impl: OpensslEd25519 | undefined } | undefined;

/** OpenSSL's Ed25519 once it has passed the known-answer test, else undefined. */
export function opensslEd25519(): OpensslEd25519 | undefined {
  if (checked) return checked.impl;
  let impl: OpensslEd25519 | undefined;
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const crypto = proc?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
    if (crypto) {
      const o = make(crypto);
      const seed = fromHex(TEST1.seed);
      const ok =
        equalBytes(o.publicKey(seed), fromHex(TEST1.publicKey)) &&
        equalBytes(o.sign(seed, new Uint8Array(0)), fromHex(TEST1.signature)) &&
        o.verify(fromHex(TEST1.publicKey), new Uint8Array(0), fromHex(TEST1.signature)) &&
        !o.verify(fromHex(TEST1.publicKey), new Uint8Array(1), fromHex(TEST1.signature));
      impl = ok ? o : undefined;
    }
  } catch {
    impl = undefined;
  }
  checked = { impl };
  return impl;
}
