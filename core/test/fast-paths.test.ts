/** The fast paths (native BLAKE3 and CRC-32, one-extract file keys) agree with the portable ones. */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fileKey, fileKeyDeriver } from "../src/crypto/kdf.js";
import {
  blake3,
  blake3Implementation,
  blake3KnownAnswers,
  nativeBlake3,
  wasmBlake3,
  wasmBlake3Ready,
} from "../src/hash/blake3.js";
import { crc32, crc32Implementation, crc32JsOnly, createCrc32 } from "../src/hash/crc32.js";
import { toHex } from "../src/hash/hex.js";

const nativeExpected = process.platform === "linux" && process.arch === "x64";
const SIZES = [0, 1, 63, 64, 1023, 1024, 1025, 4096, 65535, 65536, 65552, 1 << 20, (1 << 20) + 7];

describe("BLAKE3 engines", () => {
  it("uses the native addon where it ships (linux x64)", () => {
    if (nativeExpected) expect(blake3Implementation).toBe("native");
    expect(blake3Implementation).toBe(nativeBlake3 ? "native" : "wasm");
  });

  it("native and WebAssembly digests agree on inputs around block, chunk and tree sizes", async () => {
    await wasmBlake3Ready();
    for (const [input, hex] of blake3KnownAnswers) expect(toHex(wasmBlake3(input))).toBe(hex);
    if (!nativeBlake3) return;
    for (const [input, hex] of blake3KnownAnswers) expect(toHex(nativeBlake3(input))).toBe(hex);
    const data = randomBytes((1 << 20) + 7);
    for (const n of SIZES) {
      const input = data.subarray(0, n);
      expect(toHex(nativeBlake3(input)), `size ${n}`).toBe(toHex(wasmBlake3(input)));
    }
    // Unaligned views of a larger buffer hash only their own bytes.
    const view = data.subarray(13, 13 + 70000);
    expect(toHex(nativeBlake3(view))).toBe(toHex(wasmBlake3(view.slice())));
  });

  it("returns digests that are independent copies", () => {
    const a = blake3(new Uint8Array([1]));
    const b = blake3(new Uint8Array([2]));
    const keep = toHex(a);
    expect(toHex(a.slice())).toBe(keep);
    expect(toHex(b)).not.toBe(keep);
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(32);
  });
});

describe("CRC-32 engines", () => {
  it("uses a native engine on Node", () => {
    expect(["native", "node-rs", "zlib"]).toContain(crc32Implementation());
  });

  it("native and plain-JS CRC-32 agree, whole and incremental", () => {
    const data = randomBytes(300_000);
    for (const n of [0, 1, 15, 16, 17, 16383, 16384, 65552, 300_000]) {
      expect(crc32(data.subarray(0, n)), `size ${n}`).toBe(crc32JsOnly(data.subarray(0, n)));
    }
    const c = createCrc32();
    for (let at = 0; at < data.length; ) {
      const n = Math.min(data.length - at, 1 + ((at * 7919) % 70000));
      c.update(data.subarray(at, at + n));
      at += n;
    }
    expect(c.digest()).toBe(crc32JsOnly(data));
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });
});

describe("file key derivation", () => {
  it("fileKeyDeriver gives fileKey's keys (SPEC §5.1) with the extract step done once", () => {
    const master = new Uint8Array(32).fill(5);
    const id = new Uint8Array(16).fill(6);
    const derive = fileKeyDeriver(master, id);
    for (const name of ["payload/a", "payload/ünïcode/ß.tif", "payload/00000001", "meta/x.json"]) {
      expect(toHex(derive(name))).toBe(toHex(fileKey(master, id, name)));
    }
    expect(toHex(derive("payload/a"))).not.toBe(toHex(derive("payload/b")));
  });
});
