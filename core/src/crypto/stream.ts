/**
 * STREAM encryption of one entry (SPEC §5.2): XChaCha20-Poly1305 over 64 KiB chunks, nonce
 * `0x00 * 16 || u56be(i) || last`. Three implementations give identical bytes: noble's
 * XChaCha20-Poly1305 (pure JS, everywhere); on Node, the HChaCha20 subkey computed once per entry
 * followed by OpenSSL's ChaCha20-Poly1305 (RFC 8439) per chunk, about 20 times faster; and
 * libsodium's XChaCha20-Poly1305 (sodium-native), as fast and without a buffer per chunk; and ring's
 * ChaCha20-Poly1305 through `@qcap/native` with the same subkey, about 1.5 times libsodium's speed.
 */
import { hchacha, xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { type QcapNative, qcapNative } from "../engine/native.js";
import { fail } from "../errors.js";
import { assertBytes, utf8 } from "./bytes.js";
import { nodeRfc8439 } from "./stream-node.js";

export const PLAIN_CHUNK = 65536;
export const TAG_BYTES = 16;
export const STORED_CHUNK = PLAIN_CHUNK + TAG_BYTES; // 65552

/** Number of chunks `m = max(1, ceil(len(P) / 65536))` of a plaintext of `plainSize` bytes. */
export function chunkCount(plainSize: number): number {
  if (!Number.isSafeInteger(plainSize) || plainSize < 0) throw new RangeError(`invalid size ${plainSize}`);
  return Math.max(1, Math.ceil(plainSize / PLAIN_CHUNK));
}

/** Stored (encrypted) size `len(P) + 16 * m` of a plaintext of `plainSize` bytes. */
export function storedSize(plainSize: number): number {
  return plainSize + TAG_BYTES * chunkCount(plainSize);
}

/** Plaintext size of `storedSize` encrypted bytes; a "format" error when no plaintext has that size. */
export function plainSize(storedSize: number): number {
  const bad = () => fail("format", `impossible size ${storedSize} for an encrypted entry`);
  if (!Number.isSafeInteger(storedSize) || storedSize < TAG_BYTES) return bad();
  const full = Math.floor(storedSize / STORED_CHUNK);
  const rest = storedSize % STORED_CHUNK;
  if (rest === 0) return storedSize - TAG_BYTES * full;
  // A partial last chunk holds at least its tag, and is empty only when the whole plaintext is.
  if (rest < TAG_BYTES || (rest === TAG_BYTES && full > 0)) return bad();
  return storedSize - TAG_BYTES * (full + 1);
}

export interface ChunkCipher {
  /**
   * Encrypts chunk `index`: returns ciphertext || tag (`plaintext.length + 16` bytes). Chunks other
   * than the last are exactly 65536 bytes; the last is 1..65536 bytes, or empty when it is chunk 0.
   * When `out` is given (at least `plaintext.length + 16` bytes, not overlapping `plaintext` except at
   * the same offset) the result is written to its start and a subarray of it is returned.
   */
  seal(index: number, last: boolean, plaintext: Uint8Array, out?: Uint8Array): Uint8Array;
  /**
   * Decrypts chunk `index` (ciphertext || tag); a "decrypt" error when authentication fails. When
   * `out` is given (at least `stored.length - 16` bytes) the plaintext is written to its start.
   */
  open(index: number, last: boolean, stored: Uint8Array, out?: Uint8Array): Uint8Array;
}

export type ChunkCipherFactory = (fileKey: Uint8Array, aad: Uint8Array) => ChunkCipher;

/** The 24-byte XChaCha20 nonce `0x00 * 16 || u56be(index) || flag` of chunk `index`. */
export function chunkNonce(index: number, last: boolean): Uint8Array {
  const n = new Uint8Array(24);
  writeCounter(n, 16, index, last);
  return n;
}

/** Writes `u56be(index) || flag` at `n[at .. at+8)`. */
function writeCounter(n: Uint8Array, at: number, index: number, last: boolean): void {
  let x = index;
  for (let i = at + 6; i >= at; i--) {
    n[i] = x % 256;
    x = Math.floor(x / 256);
  }
  n[at + 7] = last ? 1 : 0;
}

const SIGMA = u32Copy(utf8("expand 32-byte k"), 4);

/** Copies bytes into a fresh Uint32Array (native word order, as noble's `hchacha` expects). */
function u32Copy(bytes: Uint8Array, words: number): Uint32Array {
  const w = new Uint32Array(words);
  new Uint8Array(w.buffer).set(bytes);
  return w;
}

/** HChaCha20(key, nonce16) of draft-irtf-cfrg-xchacha §2.2: the XChaCha20 subkey. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  assertBytes(key, 32, "key");
  assertBytes(nonce16, 16, "nonce");
  // Scratch words reused across calls (this is synchronous): one subkey per small file adds up.
  H_KEY_BYTES.set(key);
  H_NONCE_BYTES.set(nonce16);
  hchacha(SIGMA, H_KEY, H_NONCE, H_OUT);
  const subkey = H_OUT_BYTES.slice();
  H_KEY.fill(0);
  H_OUT.fill(0);
  return subkey;
}

const H_KEY = new Uint32Array(8);
const H_NONCE = new Uint32Array(4);
const H_OUT = new Uint32Array(8);
const H_KEY_BYTES = new Uint8Array(H_KEY.buffer);
const H_NONCE_BYTES = new Uint8Array(H_NONCE.buffer);
const H_OUT_BYTES = new Uint8Array(H_OUT.buffer);

function checkSeal(index: number, last: boolean, plaintext: Uint8Array, out?: Uint8Array): number {
  checkIndex(index);
  const n = plaintext.length;
  if (last ? n > PLAIN_CHUNK || (n === 0 && index !== 0) : n !== PLAIN_CHUNK) {
    throw new RangeError(`chunk ${index}${last ? " (last)" : ""} cannot hold ${n} bytes`);
  }
  if (out !== undefined && out.length < n + TAG_BYTES) throw new RangeError("output buffer too small");
  return n + TAG_BYTES;
}

function checkOpen(index: number, last: boolean, stored: Uint8Array, out?: Uint8Array): void {
  checkIndex(index);
  const n = stored.length;
  if (last ? n > STORED_CHUNK || n < TAG_BYTES || (n === TAG_BYTES && index !== 0) : n !== STORED_CHUNK) {
    fail("format", `encrypted chunk ${index}${last ? " (last)" : ""} cannot be ${n} bytes long`);
  }
  if (out !== undefined && out.length < n - TAG_BYTES) throw new RangeError("output buffer too small");
}

/** `plain`, or a copy of it at the start of `out`. */
function intoOut(plain: Uint8Array, out?: Uint8Array): Uint8Array {
  if (out === undefined) return plain;
  out.set(plain);
  return out.subarray(0, plain.length);
}

function checkIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`invalid chunk index ${index}`);
}

/** The "decrypt" error of chunk `index` failing to authenticate, whichever engine found it. */
export const authFailed = (index: number): never =>
  fail("decrypt", `decryption failed: chunk ${index} does not authenticate (wrong key or altered data)`);

/** Pure-JS implementation: noble's XChaCha20-Poly1305 per chunk. Runs everywhere. */
export const nobleChunkCipher: ChunkCipherFactory = (fileKey, aad) => {
  assertBytes(fileKey, 32, "fileKey");
  const key = fileKey.slice();
  const ad = aad.slice();
  return {
    seal(index, last, plaintext, out) {
      const len = checkSeal(index, last, plaintext, out);
      const cipher = xchacha20poly1305(key, chunkNonce(index, last), ad);
      return out === undefined ? cipher.encrypt(plaintext) : cipher.encrypt(plaintext, out.subarray(0, len));
    },
    open(index, last, stored, out) {
      checkOpen(index, last, stored, out);
      let plain: Uint8Array;
      try {
        plain = xchacha20poly1305(key, chunkNonce(index, last), ad).decrypt(stored);
      } catch {
        return authFailed(index);
      }
      return intoOut(plain, out);
    },
  };
};

const nodeAead = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: NodeJS.Process["getBuiltinModule"] } })
    .process;
  const nodeCrypto = proc?.getBuiltinModule?.("node:crypto");
  return nodeCrypto === undefined ? undefined : nodeRfc8439(nodeCrypto);
})();

function nodeFactory(aead: NonNullable<typeof nodeAead>): ChunkCipherFactory {
  return (fileKey, aad) => {
    assertBytes(fileKey, 32, "fileKey");
    const subkey = streamSubkey(fileKey);
    const key = aead.importKey(subkey);
    subkey.fill(0);
    const ad = aad.slice();
    const nonce = new Uint8Array(12);
    return {
      seal(index, last, plaintext, out) {
        const len = checkSeal(index, last, plaintext, out);
        const dst = out === undefined ? new Uint8Array(len) : out.subarray(0, len);
        writeCounter(nonce, 4, index, last);
        aead.seal(key, nonce, ad, plaintext, dst);
        return dst;
      },
      open(index, last, stored, out) {
        checkOpen(index, last, stored, out);
        writeCounter(nonce, 4, index, last);
        return intoOut(aead.open(key, nonce, ad, stored) ?? authFailed(index), out);
      },
    };
  };
}

/** The part of sodium-native's API used here (libsodium's XChaCha20-Poly1305-IETF). */
interface Sodium {
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
}

/** sodium-native, loaded on first use: where the native kernels serve, it is never loaded (~10 ms). */
function loadSodium(): Sodium | undefined {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: NodeJS.Process["getBuiltinModule"] } })
      .process;
    const mod = proc?.getBuiltinModule?.("node:module");
    return mod ? (mod.createRequire(import.meta.url)("sodium-native") as Sodium) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * libsodium's XChaCha20-Poly1305 (the SPEC §5.2 construction itself) through sodium-native: as fast
 * as OpenSSL here, and it writes into the caller's buffers, where `node:crypto` allocates a new one
 * per chunk (garbage that costs memory and collection time at gigabytes per second).
 */
function sodiumFactory(na: Sodium): ChunkCipherFactory {
  return (fileKey, aad) => {
    assertBytes(fileKey, 32, "fileKey");
    const key = fileKey.slice();
    const ad = aad.slice();
    const nonce = new Uint8Array(24);
    return {
      seal(index, last, plaintext, out) {
        const len = checkSeal(index, last, plaintext, out);
        const dst = out === undefined ? new Uint8Array(len) : out.subarray(0, len);
        writeCounter(nonce, 16, index, last);
        na.crypto_aead_xchacha20poly1305_ietf_encrypt(dst, plaintext, ad, null, nonce, key);
        return dst;
      },
      open(index, last, stored, out) {
        checkOpen(index, last, stored, out);
        writeCounter(nonce, 16, index, last);
        const n = stored.length - TAG_BYTES;
        const dst = out === undefined ? new Uint8Array(n) : out.subarray(0, n);
        try {
          na.crypto_aead_xchacha20poly1305_ietf_decrypt(dst, null, stored, ad, nonce, key);
        } catch {
          dst.fill(0);
          return authFailed(index);
        }
        return dst;
      },
    };
  };
}

/** The per-entry XChaCha20 subkey of STREAM: every chunk nonce starts with 16 zero bytes (§5.2). */
export function streamSubkey(fileKey: Uint8Array): Uint8Array {
  return hchacha20(fileKey, new Uint8Array(16));
}

/** True when two views share bytes: the native kernels refuse such buffers (no aliasing in Rust). */
function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.buffer === b.buffer &&
    a.byteOffset < b.byteOffset + b.byteLength &&
    b.byteOffset < a.byteOffset + a.byteLength
  );
}

/**
 * ring's ChaCha20-Poly1305 (BoringSSL's stitched assembly) through `@qcap/native`. The addon never
 * writes over its input: an in-place call (allowed by ChunkCipher) copies the input first.
 */
function nativeFactory(na: QcapNative): ChunkCipherFactory {
  return (fileKey, aad) => {
    assertBytes(fileKey, 32, "fileKey");
    const subkey = streamSubkey(fileKey);
    const ad = aad.slice();
    return {
      seal(index, last, plaintext, out) {
        const len = checkSeal(index, last, plaintext, out);
        const dst = out === undefined ? new Uint8Array(len) : out.subarray(0, len);
        na.chunkSeal(subkey, ad, index, last, overlaps(plaintext, dst) ? plaintext.slice() : plaintext, dst);
        return dst;
      },
      open(index, last, stored, out) {
        checkOpen(index, last, stored, out);
        const n = stored.length - TAG_BYTES;
        const dst = out === undefined ? new Uint8Array(n) : out.subarray(0, n);
        const input = overlaps(stored, dst) ? stored.slice() : stored;
        return na.chunkOpen(subkey, ad, index, last, input, dst) ? dst : authFailed(index);
      },
    };
  };
}

/**
 * Known answers (computed with noble, the portable implementation; `selfTestVectors` lets a test
 * recheck them): a native implementation that disagrees is not used. Fixed bytes rather than a
 * run of noble at load, which would cost start-up time in every process.
 */
const SELF_TEST = {
  key: Uint8Array.from({ length: 32 }, (_, i) => i),
  aad: utf8("qcap self-test"),
  cases: [
    {
      index: 3,
      plain: Uint8Array.from({ length: 100 }, (_, i) => i),
      sealed:
        "323f84e76d01a3ae38a0793120c8df97b2bcaaf47ffb8e3db304aa2b2bc0dfe57a30c964a215aa662fcc2b488fffd896" +
        "c04f94b63654b3beac113ebca1a2dd7f09c4421ebddb668205d27f6a47ac48b9e54390ba857f21d7e6eddd395805fa50" +
        "a25633649ea1a5dfe283dd4de57c0926578e2c25",
    },
    { index: 0, plain: new Uint8Array(0), sealed: "9800fedfe0ff31d696476582f76298c6" },
  ],
};

/** For tests: the self-test inputs and expected stored bytes (hex). */
export const selfTestVectors = SELF_TEST;

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

function passesSelfTest(f: ChunkCipherFactory): boolean {
  try {
    for (const c of SELF_TEST.cases) {
      if (hexOf(f(SELF_TEST.key, SELF_TEST.aad).seal(c.index, true, c.plain)) !== c.sealed) return false;
      const stored = f(SELF_TEST.key, SELF_TEST.aad).seal(c.index, true, c.plain);
      if (hexOf(f(SELF_TEST.key, SELF_TEST.aad).open(c.index, true, stored)) !== hexOf(c.plain)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Node implementation, undefined outside Node: HChaCha20 subkey once per entry, then OpenSSL's
 * ChaCha20-Poly1305 with nonce `0x00000000 || u56be(i) || flag` per chunk (the §5.2 equivalence).
 */
export const nodeChunkCipher: ChunkCipherFactory | undefined = (() => {
  const f = nodeAead && nodeFactory(nodeAead);
  return f && passesSelfTest(f) ? f : undefined;
})();

let sodiumChecked: { f: ChunkCipherFactory | undefined } | undefined;
/** libsodium through sodium-native (loaded on first call), undefined where the addon does not load. */
export function sodiumChunkCipher(): ChunkCipherFactory | undefined {
  if (sodiumChecked === undefined) {
    const na = loadSodium();
    const f = na && sodiumFactory(na);
    sodiumChecked = { f: f && passesSelfTest(f) ? f : undefined };
  }
  return sodiumChecked.f;
}

/** ring through `@qcap/native`, undefined where the addon is not built or does not load. */
export const nativeChunkCipher: ChunkCipherFactory | undefined = (() => {
  const f = qcapNative && nativeFactory(qcapNative);
  return f && passesSelfTest(f) ? f : undefined;
})();

// Choice made once at load, by what `process.getBuiltinModule` offers (no static `node:*` import,
// so browser bundles stay clean): the native kernels, else libsodium, else Node's OpenSSL, else noble.
export const chunkCipherImplementation: "native" | "sodium" | "node" | "noble" = nativeChunkCipher
  ? "native"
  : sodiumChunkCipher()
    ? "sodium"
    : nodeChunkCipher
      ? "node"
      : "noble";

const fastest = nativeChunkCipher ?? sodiumChunkCipher() ?? nodeChunkCipher ?? nobleChunkCipher;

/** A STREAM cipher for one entry, with the fastest implementation available here. */
export function chunkCipher(fileKey: Uint8Array, aad: Uint8Array): ChunkCipher {
  return fastest(fileKey, aad);
}
