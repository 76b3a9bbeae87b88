import { createCipheriv, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { describe, expect, test } from "vitest";
import { concatBytes } from "../src/crypto/bytes.js";
import {
  type ChunkCipherFactory,
  chunkCipher,
  chunkCipherImplementation,
  chunkCount,
  chunkNonce,
  hchacha20,
  nativeChunkCipher,
  nobleChunkCipher,
  nodeChunkCipher,
  PLAIN_CHUNK,
  plainSize,
  STORED_CHUNK,
  selfTestVectors,
  sodiumChunkCipher,
  storedSize,
} from "../src/crypto/stream.js";
import { expectQcapError, hex, unhex } from "./crypto-test-utils.js";

const rnd = (n: number) => new Uint8Array(randomBytes(n));
const node = nodeChunkCipher as ChunkCipherFactory;
const nativeBuilt = existsSync(new URL("../../native/qcap_native.node", import.meta.url));
const IMPLS: [string, ChunkCipherFactory][] = [
  ["noble", nobleChunkCipher],
  ["node", node],
  ["sodium", sodiumChunkCipher() as ChunkCipherFactory],
  ...(nativeChunkCipher ? [["native", nativeChunkCipher] as [string, ChunkCipherFactory]] : []),
];

function sealAll(
  f: ChunkCipherFactory,
  key: Uint8Array,
  aad: Uint8Array,
  p: Uint8Array,
  useOut = false,
): Uint8Array[] {
  const c = f(key, aad);
  const m = chunkCount(p.length);
  const out = new Uint8Array(STORED_CHUNK);
  return Array.from({ length: m }, (_, i) => {
    const chunk = p.subarray(i * PLAIN_CHUNK, Math.min((i + 1) * PLAIN_CHUNK, p.length));
    return useOut ? c.seal(i, i === m - 1, chunk, out).slice() : c.seal(i, i === m - 1, chunk);
  });
}

function openAll(f: ChunkCipherFactory, key: Uint8Array, aad: Uint8Array, chunks: Uint8Array[]): Uint8Array {
  const c = f(key, aad);
  return concatBytes(...chunks.map((s, i) => c.open(i, i === chunks.length - 1, s)));
}

describe("sizes", () => {
  test("storedSize and plainSize", () => {
    expect(STORED_CHUNK).toBe(65552);
    expect([0, 1, 65535, 65536, 65537, 131072].map(storedSize)).toEqual([
      16, 17, 65551, 65552, 65569, 131104,
    ]);
    for (const p of [0, 1, 2, 65535, 65536, 65537, 131071, 131072, 131073, 2 ** 40 + 7]) {
      expect(plainSize(storedSize(p))).toBe(p);
    }
  });

  test("plainSize refuses sizes no plaintext has", () => {
    for (const s of [
      0,
      1,
      15,
      STORED_CHUNK + 1,
      STORED_CHUNK + 15,
      STORED_CHUNK + 16,
      2 * STORED_CHUNK + 16,
      -16,
      16.5,
      Number.NaN,
    ]) {
      expectQcapError(() => plainSize(s), "format");
    }
  });
});

describe("implementations", () => {
  test("Node uses the native kernels where built, else libsodium; OpenSSL's path is also available", () => {
    expect(nodeChunkCipher).toBeDefined();
    expect(sodiumChunkCipher()).toBeDefined();
    expect(nativeChunkCipher !== undefined).toBe(nativeBuilt && process.env.QCAP_NATIVE !== "0");
    expect(chunkCipherImplementation).toBe(nativeChunkCipher ? "native" : "sodium");
  });

  test("the load-time self-test vectors are noble's output", () => {
    for (const c of selfTestVectors.cases) {
      expect(
        hex(nobleChunkCipher(selfTestVectors.key, selfTestVectors.aad).seal(c.index, true, c.plain)),
      ).toBe(c.sealed);
    }
  });

  test("HChaCha20 matches draft-irtf-cfrg-xchacha §2.2.1", () => {
    const key = unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    const nonce = unhex("000000090000004a0000000031415927");
    expect(hex(hchacha20(key, nonce))).toBe(
      "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc",
    );
  });

  test("XChaCha20-Poly1305 and the HChaCha20 + ChaCha20-Poly1305 route match draft A.3.1", () => {
    const pt = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const aad = unhex("50515253c0c1c2c3c4c5c6c7");
    const key = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    const iv = unhex("404142434445464748494a4b4c4d4e4f5051525354555657");
    const expected =
      "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39" +
      "ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9" +
      "21f9664c97637da9768812f615c68b13b52e" +
      "c0875924c1c7987947deafd8780acf49";
    expect(hex(xchacha20poly1305(key, iv, aad).encrypt(pt))).toBe(expected);
    const c = createCipheriv(
      "chacha20-poly1305",
      hchacha20(key, iv.subarray(0, 16)),
      concatBytes(new Uint8Array(4), iv.subarray(16)),
      {
        authTagLength: 16,
      },
    );
    c.setAAD(aad, { plaintextLength: pt.length });
    const ct = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    expect(ct.toString("hex")).toBe(expected);
  });

  test("chunk nonces", () => {
    expect(hex(chunkNonce(0, false))).toBe("00".repeat(24));
    expect(hex(chunkNonce(0, true))).toBe(`${"00".repeat(23)}01`);
    expect(hex(chunkNonce(0x0102030405, true))).toBe(`${"00".repeat(16)}0000010203040501`);
    expect(hex(chunkNonce(2 ** 53 - 1, false))).toBe(`${"00".repeat(16)}1fffffffffffff00`);
  });

  const sizes = [
    0,
    1,
    100,
    PLAIN_CHUNK - 1,
    PLAIN_CHUNK,
    PLAIN_CHUNK + 1,
    2 * PLAIN_CHUNK,
    3 * PLAIN_CHUNK - 7,
  ];
  test.each(sizes)("all give identical bytes and open each other's output (%i bytes)", (n) => {
    const key = rnd(32);
    const aad = rnd(40);
    const p = rnd(n);
    const a = sealAll(nobleChunkCipher, key, aad, p);
    expect(concatBytes(...a).length).toBe(storedSize(n));
    for (const [name, f] of IMPLS) {
      expect(hex(concatBytes(...sealAll(f, key, aad, p))), name).toBe(hex(concatBytes(...a)));
      expect(hex(concatBytes(...sealAll(f, key, aad, p, true))), name).toBe(hex(concatBytes(...a)));
      expect(hex(openAll(f, key, aad, a)), name).toBe(hex(p));
      expect(hex(openAll(nobleChunkCipher, key, aad, sealAll(f, key, aad, p))), name).toBe(hex(p));
    }
    expect(hex(openAll((k, ad) => chunkCipher(k, ad), key, aad, a))).toBe(hex(p));
  });

  test.each(IMPLS)("%s seals and opens in place (output at the input's offset)", (_, f) => {
    const key = rnd(32);
    const aad = rnd(12);
    const p = rnd(1000);
    const expected = f(key, aad).seal(5, true, p);
    const buf = new Uint8Array(1100);
    buf.set(p, 50);
    const sealed = f(key, aad).seal(5, true, buf.subarray(50, 1050), buf.subarray(50));
    expect(hex(sealed)).toBe(hex(expected));
    const opened = f(key, aad).open(5, true, buf.subarray(50, 1066), buf.subarray(50));
    expect(hex(opened)).toBe(hex(p));
  });
});

describe.each(IMPLS)("%s refuses altered data", (_, f) => {
  const key = rnd(32);
  const aad = rnd(30);
  const p = rnd(2 * PLAIN_CHUNK); // two full chunks: the last one is full-sized too
  const chunks = sealAll(f, key, aad, p);
  const [c0, c1] = chunks as [Uint8Array, Uint8Array];
  const open =
    (i: number, last: boolean, s: Uint8Array, k = key, ad = aad) =>
    () =>
      f(k, ad).open(i, last, s);
  const flip = (s: Uint8Array, at: number) => {
    const t = s.slice();
    t[at] = (t[at] as number) ^ 1;
    return t;
  };

  test("intact chunks open", () => {
    expect(hex(openAll(f, key, aad, chunks))).toBe(hex(p));
  });
  test("a flipped ciphertext or tag bit", () => {
    expectQcapError(open(0, false, flip(c0, 5)), "decrypt");
    expectQcapError(open(1, true, flip(c1, c1.length - 1)), "decrypt");
  });
  test("a chunk at another index (reordering)", () => {
    expectQcapError(open(0, false, c1), "decrypt");
    expectQcapError(open(1, true, c0), "decrypt");
  });
  test("the wrong last flag", () => {
    expectQcapError(open(1, false, c1), "decrypt");
    expectQcapError(open(0, true, c0), "decrypt");
  });
  test("a truncated stream (missing last chunk)", () => {
    // A reader seeing only the first chunk takes it as the last one.
    expectQcapError(open(0, true, c0), "decrypt");
  });
  test("another entry, capsule or key", () => {
    expectQcapError(open(0, false, c0, key, rnd(30)), "decrypt");
    expectQcapError(open(0, false, c0, rnd(32)), "decrypt");
  });
  test("impossible chunk lengths are format errors", () => {
    expectQcapError(open(0, false, c0.subarray(1)), "format");
    expectQcapError(open(0, true, c0.subarray(0, 15)), "format");
    expectQcapError(open(1, true, c0.subarray(0, 16)), "format"); // empty last chunk after chunk 0
    expectQcapError(open(0, true, concatBytes(c0, new Uint8Array(1))), "format");
  });
  test("sealing a misshapen chunk is a caller bug", () => {
    const c = f(key, aad);
    expect(() => c.seal(0, false, new Uint8Array(10))).toThrow(RangeError);
    expect(() => c.seal(1, true, new Uint8Array(0))).toThrow(RangeError);
    expect(() => c.seal(0, true, new Uint8Array(PLAIN_CHUNK + 1))).toThrow(RangeError);
    expect(() => c.seal(-1, true, new Uint8Array(1))).toThrow(RangeError);
    expect(() => c.seal(0, true, new Uint8Array(4), new Uint8Array(19))).toThrow(RangeError);
  });
});

// QCAP_BENCH=1 npx vitest run --project core core/test/crypto-stream
test.skipIf(process.env.QCAP_BENCH !== "1")("throughput on 256 MiB in 64 KiB chunks", () => {
  const key = rnd(32);
  const aad = rnd(40);
  const pt = rnd(PLAIN_CHUNK);
  const out = new Uint8Array(STORED_CHUNK);
  const MiB = 256;
  const n = MiB * 16;
  for (const [name, f] of IMPLS) {
    const c = f(key, aad);
    for (let i = 0; i < 64; i++) c.open(i, false, c.seal(i, false, pt, out)); // warm up
    let t = performance.now();
    for (let i = 0; i < n; i++) c.seal(i, false, pt, out);
    const seal = (performance.now() - t) / 1000;
    const stored = c.seal(7, false, pt);
    t = performance.now();
    for (let i = 0; i < n; i++) c.open(7, false, stored);
    const open = (performance.now() - t) / 1000;
    const rate = (s: number) => `${((MiB * 2 ** 20) / s / 1e6).toFixed(0)} MB/s`;
    console.log(`${name}: seal ${rate(seal)}, open ${rate(open)}`);
  }
});
