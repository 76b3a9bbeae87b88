/**
 * ChaCha20-Poly1305 (RFC 8439) on Node's OpenSSL, the fast path of STREAM (SPEC §5.2).
 *
 * The `node:crypto` module is passed in by `stream.ts` (from `process.getBuiltinModule`) rather than
 * imported here, so that no static `node:*` import reaches a browser bundle.
 */
import type * as NodeCrypto from "node:crypto";

const TAG = 16;

export interface Rfc8439 {
  /** Writes ciphertext || tag of `plaintext` into `out` (exactly `plaintext.length + 16` bytes). */
  seal(
    key: NodeCrypto.KeyObject,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
  ): void;
  /** The plaintext of `stored` (ciphertext || tag), or undefined when authentication fails. */
  open(
    key: NodeCrypto.KeyObject,
    nonce: Uint8Array,
    aad: Uint8Array,
    stored: Uint8Array,
  ): Uint8Array | undefined;
  importKey(key: Uint8Array): NodeCrypto.KeyObject;
}

/** The RFC 8439 AEAD of `crypto`, or undefined when its OpenSSL lacks ChaCha20-Poly1305. */
export function nodeRfc8439(crypto: typeof NodeCrypto): Rfc8439 | undefined {
  if (!crypto.getCiphers().includes("chacha20-poly1305")) return undefined;
  const opts = { authTagLength: TAG } as const;
  return {
    importKey: (key) => crypto.createSecretKey(key),
    seal(key, nonce, aad, plaintext, out) {
      const c = crypto.createCipheriv("chacha20-poly1305", key, nonce, opts);
      c.setAAD(aad, { plaintextLength: plaintext.length });
      const ct = c.update(plaintext);
      const rest = c.final();
      out.set(ct, 0);
      out.set(rest, ct.length);
      out.set(c.getAuthTag(), plaintext.length);
    },
    open(key, nonce, aad, stored) {
      const n = stored.length - TAG;
      const d = crypto.createDecipheriv("chacha20-poly1305", key, nonce, opts);
      d.setAAD(aad, { plaintextLength: n });
      d.setAuthTag(stored.subarray(n));
      const pt = d.update(stored.subarray(0, n));
      try {
        d.final();
      } catch {
        pt.fill(0);
        return undefined;
      }
      return new Uint8Array(pt.buffer, pt.byteOffset, pt.length);
    },
  };
}
