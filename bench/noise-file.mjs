/** Incompressible test files that cost no crypto to make (the bench measures the crypto). */
import { closeSync, openSync, writeSync } from "node:fs";

const BLOCK = 4 * 1024 * 1024;

/** Writes `size` bytes of a xorshift stream from `seed` to `path`, 4 MiB at a time. */
export function noiseFile(path, size, seed = 0x9e3779b9) {
  const fd = openSync(path, "w");
  const buf = Buffer.alloc(BLOCK);
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  let x = seed >>> 0;
  for (let at = 0; at < size; at += buf.length) {
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    writeSync(fd, buf, 0, Math.min(buf.length, size - at));
  }
  closeSync(fd);
}
