import { test } from "vitest";
import { nobleChunkCipher, nodeChunkCipher, PLAIN_CHUNK } from "../src/crypto/stream.js";
test("bench", () => {
  const key = new Uint8Array(32).fill(7); const aad = new Uint8Array(30);
  const pt = new Uint8Array(PLAIN_CHUNK).fill(1); const out = new Uint8Array(PLAIN_CHUNK + 16);
  for (const [name, f, mib] of [["node", nodeChunkCipher!, 256], ["node", nodeChunkCipher!, 256], ["noble", nobleChunkCipher, 64]] as const) {
    const c = f(key, aad); const n = mib * 16;
    let t = performance.now();
    for (let i = 0; i < n; i++) c.seal(i, false, pt, out);
    const s = (performance.now() - t) / 1000;
    const st = c.seal(5, false, pt);
    t = performance.now();
    for (let i = 0; i < n; i++) c.open(5, false, st);
    const o = (performance.now() - t) / 1000;
    console.log(name, "seal MB/s", (mib * 1048576 / s / 1e6).toFixed(0), "open MB/s", (mib * 1048576 / o / 1e6).toFixed(0));
  }
});
