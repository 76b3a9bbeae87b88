// CRC-32 engines on 64 KiB chunks over 256 MiB: plain JS slice-by-16, hash-wasm alone, and what
// `createCrc32()` does (WASM per update, folded in with crc32_combine). Run after `npm run build`:
//   node core/bench/crc32.mjs
import { createCRC32 } from "hash-wasm";
import { crc32JsOnly, crc32Ready, createCrc32 } from "../dist/hash/crc32.js";

const CHUNK = 65536;
const TOTAL = 256 * 1024 * 1024;
const chunks = Array.from({ length: 16 }, (_, k) =>
  new Uint8Array(CHUNK).map((_, i) => ((i + k) * 2654435761) >>> 24),
);
await crc32Ready();
const wasm = await createCRC32();

const engines = {
  "JS slice-by-16": () => {
    let c = 0;
    for (let o = 0, k = 0; o < TOTAL; o += CHUNK, k++) c = crc32JsOnly(chunks[k & 15], c);
    return c;
  },
  "hash-wasm, one hasher": () => {
    wasm.init();
    for (let o = 0, k = 0; o < TOTAL; o += CHUNK, k++) wasm.update(chunks[k & 15]);
    return Number.parseInt(wasm.digest("hex"), 16);
  },
  "createCrc32() (WASM + combine)": () => {
    const h = createCrc32();
    for (let o = 0, k = 0; o < TOTAL; o += CHUNK, k++) h.update(chunks[k & 15]);
    return h.digest();
  },
};
const results = {};
for (let round = 0; round < 7; round++) {
  const seen = new Set();
  for (const [name, run] of Object.entries(engines)) {
    const t0 = performance.now();
    seen.add(run());
    results[name] ??= [];
    results[name].push(TOTAL / 1048576 / ((performance.now() - t0) / 1000));
  }
  if (seen.size !== 1) throw new Error("engines disagree");
}
for (const [name, r] of Object.entries(results)) {
  r.sort((a, b) => a - b);
  console.log(
    `${name}: median ${r[r.length >> 1].toFixed(0)} MiB/s (min ${r[0].toFixed(0)}, max ${r.at(-1).toFixed(0)})`,
  );
}
// Many small entries: a fresh WASM hasher per entry is far too slow.
const small = chunks[0].subarray(0, 4096);
let t0 = performance.now();
for (let e = 0; e < 20000; e++) crc32JsOnly(small);
console.log(`20,000 x 4 KiB, JS: ${(performance.now() - t0).toFixed(0)} ms`);
t0 = performance.now();
for (let e = 0; e < 20000; e++) (await createCRC32()).init().update(small).digest("binary");
console.log(`20,000 x 4 KiB, a new hash-wasm hasher each: ${(performance.now() - t0).toFixed(0)} ms`);
