/**
 * CRC-32 (ISO-HDLC, the ZIP checksum), incremental, for Node and browsers.
 *
 * On Node a native engine is used when it loads and passes a known-answer test: `@qcap/native` or
 * `@node-rs/crc32` (both Rust `crc32fast`, carry-less multiply, 8-25 GiB/s here) or else `zlib.crc32`
 * (~3 GiB/s). Elsewhere
 * two engines give identical results:
 * - a slice-by-16 table implementation in plain JS, always available (~1.45 GiB/s here);
 * - hash-wasm's WASM CRC-32 (~1.95 GiB/s here on 64 KiB chunks), which needs an async load.
 *
 * `createCrc32()` is synchronous and works at once with the JS engine. After `crc32Ready()` has
 * resolved (it is also started when this module loads), updates of at least `WASM_MIN_BYTES` go to
 * ONE shared WASM hasher: it computes the CRC of that update alone and the result is folded into the
 * running value with the zlib `crc32_combine` algorithm, so any number of `Crc32` objects can be
 * used at once without a WASM instance each (making one costs ~150 µs, far too much per entry).
 */
import type { IHasher } from "hash-wasm";
import { qcapNative } from "../engine/native.js";

export interface Crc32 {
  update(b: Uint8Array): void;
  /** Continues with bytes already checksummed elsewhere: `crc` is the CRC-32 of those `length` bytes alone. */
  append(crc: number, length: number): void;
  /** The CRC-32 of everything passed to `update` so far, as an unsigned 32-bit number. */
  digest(): number;
}

const POLY = 0xedb88320;

/** 16 tables of 256 entries: T[k][b] is the CRC contribution of byte b followed by k zero bytes. */
const T = /* @__PURE__ */ (() => {
  const t = new Int32Array(256 * 16);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i] as number;
    for (let s = 1; s < 16; s++) {
      c = (t[c & 0xff] as number) ^ (c >>> 8);
      t[s * 256 + i] = c;
    }
  }
  return t;
})();

/** Continues `crc` (a finished CRC-32 value, 0 for none) over `b` in plain JS. */
function crc32Js(crc: number, b: Uint8Array): number {
  const t = T;
  let c = ~crc;
  let i = 0;
  const n = b.length;
  const end = n - (n & 15);
  // The indexes below are always in range; the `as number` casts only satisfy noUncheckedIndexedAccess.
  for (; i < end; i += 16) {
    const a =
      c ^
      ((b[i] as number) |
        ((b[i + 1] as number) << 8) |
        ((b[i + 2] as number) << 16) |
        ((b[i + 3] as number) << 24));
    c =
      (t[3840 + (a & 0xff)] as number) ^
      (t[3584 + ((a >>> 8) & 0xff)] as number) ^
      (t[3328 + ((a >>> 16) & 0xff)] as number) ^
      (t[3072 + (a >>> 24)] as number) ^
      (t[2816 + (b[i + 4] as number)] as number) ^
      (t[2560 + (b[i + 5] as number)] as number) ^
      (t[2304 + (b[i + 6] as number)] as number) ^
      (t[2048 + (b[i + 7] as number)] as number) ^
      (t[1792 + (b[i + 8] as number)] as number) ^
      (t[1536 + (b[i + 9] as number)] as number) ^
      (t[1280 + (b[i + 10] as number)] as number) ^
      (t[1024 + (b[i + 11] as number)] as number) ^
      (t[768 + (b[i + 12] as number)] as number) ^
      (t[512 + (b[i + 13] as number)] as number) ^
      (t[256 + (b[i + 14] as number)] as number) ^
      (t[b[i + 15] as number] as number);
  }
  for (; i < n; i++) c = (t[(c ^ (b[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

// --- crc32_combine (zlib 1.2.12+): crc(A || B) from crc(A), crc(B) and len(B) -------------------

/** a(x) * b(x) modulo the CRC polynomial (bit-reflected). */
function multmodp(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N = /* @__PURE__ */ (() => {
  const t = new Uint32Array(32);
  let p = 1 << 30; // x^1
  t[0] = p;
  for (let k = 1; k < 32; k++) t[k] = p = multmodp(p, p);
  return t;
})();

/** x^(n * 2^k) modulo the polynomial; n may exceed 2^32 (exact up to 2^53). */
function x2nmodp(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0) {
    if (n % 2 === 1) p = multmodp(X2N[k & 31] as number, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

let lastLen = -1;
let lastOp = 0;
/** crc(A || B) given crc(A), crc(B) and the length of B in bytes. */
export function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  if (lenB !== lastLen) {
    lastOp = x2nmodp(lenB, 3);
    lastLen = lenB;
  }
  return (multmodp(lastOp, crcA >>> 0) ^ crcB) >>> 0;
}

// --- WASM engine ------------------------------------------------------------------------------

/** Updates at least this long use the WASM engine once it is loaded (below it the JS is as fast). */
export const WASM_MIN_BYTES = 16384;

let wasm: IHasher | undefined;
let wasmLoading: Promise<boolean> | undefined;

/**
 * Loads the WASM engine. Resolves to whether it is in use; never rejects (the JS engine stays in
 * use where WebAssembly is unavailable, e.g. under a strict Content-Security-Policy).
 */
export function crc32Ready(): Promise<boolean> {
  // Imported only when wanted: where a native engine serves, hash-wasm is never loaded.
  wasmLoading ??= import("hash-wasm")
    .then(({ createCRC32 }) => createCRC32())
    .then(
      (h) => {
        wasm = h;
        return true;
      },
      () => false,
    );
  return wasmLoading;
}

function crc32Wasm(h: IHasher, b: Uint8Array): number {
  const d = h.init().update(b).digest("binary");
  return (
    (((d[0] as number) << 24) | ((d[1] as number) << 16) | ((d[2] as number) << 8) | (d[3] as number)) >>> 0
  );
}

// --- native engines (Node) --------------------------------------------------------------------

type NativeCrc = (b: Uint8Array, crc: number) => number;

function loadNative(): { engine: NativeCrc; name: "native" | "node-rs" | "zlib" } | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: NodeJS.Process["getBuiltinModule"] } })
    .process;
  const getBuiltin = proc?.getBuiltinModule;
  if (!getBuiltin) return undefined;
  // CRC-32 of "123456789" is 0xcbf43926; continuing from a value checks the incremental form.
  const check = (f: NativeCrc) => {
    const nine = new TextEncoder().encode("123456789");
    return (
      f(nine, 0) >>> 0 === 0xcbf43926 && f(nine.subarray(4), f(nine.subarray(0, 4), 0)) >>> 0 === 0xcbf43926
    );
  };
  const na = qcapNative;
  if (na) {
    const engine: NativeCrc = (b, crc) => na.crc32(b, crc);
    if (check(engine)) return { engine, name: "native" };
  }
  try {
    const mod = getBuiltin("node:module");
    const addon = mod.createRequire(import.meta.url)("@node-rs/crc32") as {
      crc32(input: Uint8Array, initial?: number): number;
    };
    const engine: NativeCrc = (b, crc) => addon.crc32(b, crc) >>> 0;
    if (check(engine)) return { engine, name: "node-rs" };
  } catch {}
  try {
    const zlib = getBuiltin("node:zlib") as { crc32?: (b: Uint8Array, crc?: number) => number };
    const z = zlib.crc32;
    if (typeof z === "function") {
      const engine: NativeCrc = (b, crc) => z(b, crc) >>> 0;
      if (check(engine)) return { engine, name: "zlib" };
    }
  } catch {}
  return undefined;
}

const native = loadNative();
// WASM is only worth compiling where no native engine is available.
if (native === undefined) void crc32Ready();

/** Which engine large updates use: a native one on Node, else WASM once loaded, else JS. */
export function crc32Implementation(): "native" | "node-rs" | "zlib" | "wasm" | "js" {
  return native?.name ?? (wasm ? "wasm" : "js");
}

/** Continues `crc` (0 for none) over `b` with the fastest engine available. */
function update(crc: number, b: Uint8Array): number {
  if (native !== undefined) return native.engine(b, crc);
  if (wasm === undefined || b.length < WASM_MIN_BYTES) return crc32Js(crc, b);
  const c = crc32Wasm(wasm, b);
  return crc === 0 ? c : crc32Combine(crc, c, b.length);
}

/** An incremental CRC-32. Synchronous; see `crc32Ready()` for the faster engine. */
export function createCrc32(): Crc32 {
  let crc = 0;
  return {
    update(b: Uint8Array): void {
      if (b.length > 0) crc = update(crc, b);
    },
    append(partCrc: number, length: number): void {
      if (length > 0) crc = crc === 0 ? partCrc >>> 0 : crc32Combine(crc, partCrc, length);
    },
    digest(): number {
      return crc;
    },
  };
}

/** The CRC-32 of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  return bytes.length === 0 ? 0 : update(0, bytes);
}

/** The plain-JS engine alone, for tests and benchmarks. */
export const crc32JsOnly = (bytes: Uint8Array, crc = 0): number => crc32Js(crc, bytes);
