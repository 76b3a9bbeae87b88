/**
 * SPEC §5.3: readers try an x25519 stanza only with an identity whose key id the stanza names.
 * `kidMismatch` of core/test-vectors/recipients.json would unwrap with the identity (checked here with
 * independent code), so a reader that ignored the key id would return the master key.
 */

import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, test } from "vitest";
import { fromHex, toHex, utf8 } from "../src/crypto/bytes.js";
import { type Stanza, unwrapX25519 } from "../src/crypto/recipients.js";
import { parseIdentity } from "../src/keys/age.js";
import { loadVectors } from "./spec-helpers.js";

interface X25519Stanza {
  type: "x25519";
  kid: string;
  epk: string;
  wrappedKey: string;
}
const v = loadVectors<{
  masterKey: string;
  capsuleId: string;
  x25519: { identity: string; stanza: X25519Stanza }[];
  kidMismatch: { identity: string; stanza: X25519Stanza; result: string };
}>("recipients.json");
const capsuleId = fromHex(v.capsuleId);
const { identity, stanza, result } = v.kidMismatch;
const secret = parseIdentity(identity);

describe("recipients.json kidMismatch", () => {
  test("the stanza names another key but would unwrap with this identity", () => {
    const pub = x25519.getPublicKey(secret);
    expect(stanza.kid).not.toBe(toHex(blake3(pub).slice(0, 8)));
    const epk = fromHex(stanza.epk);
    const shared = x25519.getSharedSecret(secret, epk);
    const wrapKey = hkdf(sha256, shared, new Uint8Array([...epk, ...pub]), utf8("qcap/v1 x25519"), 32);
    const opened = chacha20poly1305(wrapKey, new Uint8Array(12), capsuleId).decrypt(
      fromHex(stanza.wrappedKey),
    );
    expect(toHex(opened)).toBe(v.masterKey);
    expect(result).toBe("skipped");
  });

  test("the library skips it", () => {
    expect(unwrapX25519(stanza as Stanza, capsuleId, secret)).toBeNull();
  });

  test("the stanza with its own key id unwraps (the control)", () => {
    const own = v.x25519[0] as { identity: string; stanza: X25519Stanza };
    expect(own.identity).toBe(identity);
    expect({ ...own.stanza, kid: stanza.kid }).toEqual(stanza);
    expect(toHex(unwrapX25519(own.stanza as Stanza, capsuleId, secret) as Uint8Array)).toBe(v.masterKey);
  });
});
