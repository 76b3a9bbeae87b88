/**
 * BLAKE3-256, the hash of the whole format (SPEC §1). Two engines give identical digests:
 * - native: Rust's `blake3` crate through `@qcap/native` when built (it writes into a reused
 *   buffer: no allocation per call) or else the prebuilt `@napi-rs/blake-hash` addon (Node only,
 *   about 2.8 GiB/s per core here);
 * - wasm: hash-wasm's WebAssembly BLAKE3 (everywhere, about 0.8 GiB/s).
 *
 * The native engine is chosen at load time when `process.getBuiltinModule` can load the addon and it
 * passes a known-answer test; browsers never see a `node:*` import or the addon.
 */
import type { IHasher } from "hash-wasm";
import { qcapNative } from "../engine/native.js";

export type Blake3Engine = (data: Uint8Array) => Uint8Array;

/** BLAKE3("") and BLAKE3(bytes 0..250), from `b3sum`. */
const KAT: [Uint8Array, string][] = [
  [new Uint8Array(0), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"],
  [
    Uint8Array.from({ length: 251 }, (_, i) => i),
    "2a43e6bf5d7dfe202bf9653c94aacb221a20cd5e449602684d9ffbd38d9a8920",
  ],
];

const hexOf = (d: Uint8Array) => Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");

function loadNative(): Blake3Engine | undefined {
  const na = qcapNative;
  if (na) {
    const out = new Uint8Array(32);
    const engine: Blake3Engine = (data) => {
      na.blake3Into(data, out);
      return out.slice();
    };
    if (KAT.every(([input, hex]) => hexOf(engine(input)) === hex)) return engine;
  }
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: NodeJS.Process["getBuiltinModule"] } })
      .process;
    const mod = proc?.getBuiltinModule?.("node:module");
    if (!mod) return undefined;
    const addon = mod.createRequire(import.meta.url)("@napi-rs/blake-hash") as {
      blake3(input: Uint8Array): Uint8Array;
    };
    const engine: Blake3Engine = (data) => {
      const b = addon.blake3(data);
      // A plain Uint8Array view: Buffer's slice() would alias instead of copying.
      return new Uint8Array(b.buffer, b.byteOffset, 32);
    };
    return KAT.every(([input, hex]) => hexOf(engine(input)) === hex) ? engine : undefined;
  } catch {
    return undefined;
  }
}

let wasmHasher: IHasher | undefined;

/** The WebAssembly engine (loaded on first use of `wasmBlake3Ready`). */
export const wasmBlake3: Blake3Engine = (data) => {
  const h = wasmHasher as IHasher;
  h.init();
  h.update(data);
  return h.digest("binary");
};

/**
 * Loads the WebAssembly engine; resolves when `wasmBlake3` can be called. hash-wasm is imported
 * only here: where the native engine serves, its module is never loaded (about 11 MiB of memory).
 */
export async function wasmBlake3Ready(): Promise<void> {
  if (wasmHasher) return;
  const { createBLAKE3 } = await import("hash-wasm");
  wasmHasher ??= await createBLAKE3(256);
}

/** The native engine, undefined where the addon cannot load (browsers, unsupported platforms). */
export const nativeBlake3: Blake3Engine | undefined = loadNative();

// The WebAssembly module is compiled only when it is the engine in use.
if (nativeBlake3 === undefined) await wasmBlake3Ready();

export const blake3Implementation: "native" | "wasm" = nativeBlake3 ? "native" : "wasm";

const engine: Blake3Engine = nativeBlake3 ?? wasmBlake3;

/** BLAKE3-256 of `data` (what `b3sum` prints). */
export function blake3(data: Uint8Array): Uint8Array {
  return engine(data);
}

/** BLAKE3-256 of the concatenation of `parts`. */
export function blake3Concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const all = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    all.set(p, n);
    n += p.length;
  }
  return engine(all);
}

/** For tests: the known answers checked at load. */
export const blake3KnownAnswers: readonly [Uint8Array, string][] = KAT;
