/**
 * The block engine (worker threads over shared memory) gives the same bytes and the same checks as
 * the single-threaded path; file inputs and sources read correctly at buffer and 4 GiB boundaries.
 */
import { closeSync, openSync, readFileSync, statfsSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput, type PackInput } from "../src/capsule/pack.js";
import { plainChunks } from "../src/capsule/read.js";
import { masterEntryKeys, unlockMasterKey } from "../src/capsule/unlock.js";
import type { BlockEngine } from "../src/engine/blocks.js";
import { createEngine } from "../src/engine/create.js";
import type { Engine } from "../src/engine/engine.js";
import { QcapError } from "../src/errors.js";
import { bytesSource } from "../src/io/source.js";
import { extract } from "../src/node/extract.js";
import { fileInput } from "../src/node/inputs.js";
import { fileSink } from "../src/node/sink.js";
import { fileSource } from "../src/node/source.js";
import { packBytes, pseudoRandom, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;
const identity = new Uint8Array(32).fill(9);
const { x25519 } = await import("@noble/curves/ed25519.js");
const recipient = x25519.getPublicKey(identity);

/** Deterministic "random" values, so sealed capsules can be compared byte for byte. */
function fixedRandom() {
  let n = 0;
  return (len: number) => new Uint8Array(len).fill(++n);
}

const SIZES = [4 * MiB, 4 * MiB + 1, 5 * MiB + 12345, 16 * MiB - 1];
const inputs = (): PackInput[] => [
  ...SIZES.map((n, i) => bytesInput(`payload/f${i}.bin`, pseudoRandom(n, i + 1))),
  bytesInput("payload/small.txt", new TextEncoder().encode("small")),
  bytesInput("meta/item.json", pseudoRandom(5 * MiB, 99)),
];

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p.slice());
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Worker threads only (the native kernels would take local files first), and one sending every entry to them. */
let engine: Engine;
let everything: Engine;
const tmp = tempDir("qcap-parallel-");
beforeAll(() => {
  engine = createEngine({ threads: 2, native: false });
  everything = createEngine({ threads: 2, native: false, largeBytes: 1 });
});
afterAll(async () => {
  await engine.close();
  await everything.close();
  tmp.remove();
});

describe("block engine", () => {
  it("packs unsealed capsules byte-identical to the single-threaded path", async () => {
    const a = await packBytes(inputs());
    const b = await packBytes(inputs(), { engine: everything });
    expect(b.length).toBe(a.length);
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
  });

  it("seals byte-identical to the single-threaded path", async () => {
    const a = await packBytes(inputs(), { recipients: [recipient], random: fixedRandom() });
    const b = await packBytes(inputs(), { recipients: [recipient], random: fixedRandom(), engine });
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
  });

  it("verifies and decrypts whole entries as the chunk path does", async () => {
    const bytes = await packBytes(inputs(), { recipients: [recipient], engine });
    const c = await Capsule.open(bytesSource(bytes));
    await c.verifyAll(undefined, everything);
    const keys = masterEntryKeys(c, await unlockMasterKey(c, { identities: [identity] }));
    const out = join(tmp.path, "opened");
    const items = inputs().map((i) => ({ entry: i.name, path: i.name, mode: 0o644 }));
    await extract(c, items, out, { keys, engine });
    for (const [i, n] of SIZES.entries()) {
      const want = pseudoRandom(n, i + 1);
      expect(Buffer.from(readFileSync(join(out, `payload/f${i}.bin`))).equals(Buffer.from(want))).toBe(true);
      expect((await readAll(plainChunks(c, `payload/f${i}.bin`, keys))).length).toBe(n);
    }
  });

  it("refuses a changed byte with the entry and chunk named, then keeps working", async () => {
    const bytes = await packBytes(inputs(), { recipients: [recipient] });
    const c0 = await Capsule.open(bytesSource(bytes));
    const e = await c0.entry("payload/f2.bin");
    const bad = bytes.slice();
    // Chunk 40 of the entry: in the third block, behind blocks still in flight.
    const at = e.placed.dataOffset + 40 * e.chunkSize + 7;
    bad[at] = (bad[at] as number) ^ 1;
    const c = await Capsule.open(bytesSource(bad));
    const err = await c.verifyAll(undefined, everything).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(QcapError);
    expect((err as QcapError).kind).toBe("integrity");
    expect((err as QcapError).message).toContain("payload/f2.bin: chunk 40 ");
    // Every slot came back: a second full run still completes.
    await c0.verifyAll(undefined, everything);
  });

  it("stops cleanly when the reader stops early", async () => {
    const bytes = await packBytes(inputs());
    const c = await Capsule.open(bytesSource(bytes));
    for await (const block of c.entryBlocks("payload/f3.bin", engine.blocks() as BlockEngine)) {
      expect(block.length).toBe(16 * 65536);
      break;
    }
    await c.verifyAll(undefined, everything);
  });
});

describe("file inputs and sources", () => {
  it("reads large files through reused buffers, and small ones whole", async () => {
    const path = join(tmp.path, "in.bin");
    for (const n of [0, 5, 256 * 1024, 256 * 1024 + 1, 3 * MiB + 7]) {
      const data = pseudoRandom(n, n + 3);
      writeFileSync(path, data);
      const got = await readAll(fileInput(path, "payload/x", n, 0o644).read());
      expect(Buffer.from(got).equals(Buffer.from(data)), `size ${n}`).toBe(true);
    }
  });

  it("notices a file that grew or shrank while packing", async () => {
    const path = join(tmp.path, "grow.bin");
    writeFileSync(path, pseudoRandom(6 * MiB));
    for (const opts of [{}, { engine: everything }]) {
      for (const size of [5 * MiB, 7 * MiB]) {
        const err = await packBytes([fileInput(path, "payload/g", size, 0o644)], opts).catch(
          (x: unknown) => x,
        );
        expect((err as QcapError).kind, `${size}`).toBe("input");
        expect((err as QcapError).message).toMatch(/^payload\/g: changed while (packing|reading)/);
      }
    }
    // Small files are read whole into a buffer lent by pack, one byte longer than expected.
    const small = join(tmp.path, "small.bin");
    writeFileSync(small, pseudoRandom(1000));
    for (const size of [999, 1001, 0]) {
      const inputs = [
        bytesInput("payload/a", pseudoRandom(5000)),
        fileInput(small, "payload/s", size, 0o644),
      ];
      const err = await packBytes(inputs).catch((x: unknown) => x);
      expect((err as QcapError).message, `${size}`).toMatch(/^payload\/s: changed while packing/);
    }
  });

  it("file sinks write the same bytes, durable or not, across background syncs", async () => {
    const block = pseudoRandom(MiB + 256, 5);
    for (const durable of [false, true]) {
      const path = join(tmp.path, `sink-${durable}.bin`);
      const sink = await fileSink(path, { durable });
      for (let i = 0; i < 70; i++) await sink.write(block);
      await sink.write(block.subarray(0, 100));
      await sink.close();
      const got = readFileSync(path);
      expect(got.length).toBe(70 * block.length + 100);
      expect(Buffer.from(got.subarray(69 * block.length, 70 * block.length)).equals(Buffer.from(block))).toBe(
        true,
      );
    }
  });

  const free = (() => {
    const s = statfsSync(tmp.path);
    return s.bavail * s.bsize;
  })();
  it.runIf(free > 1024 * MiB)("reads exactly across the 4 GiB boundary of a (sparse) file", async () => {
    const path = join(tmp.path, "sparse.bin");
    const at = 2 ** 32 - 5;
    const marker = Buffer.from("0123456789");
    const fd = openSync(path, "w");
    writeSync(fd, marker, 0, marker.length, at);
    writeSync(fd, Buffer.from("z"), 0, 1, 2 ** 32 + 100);
    closeSync(fd);
    const src = await fileSource(path);
    try {
      expect(src.size).toBe(2 ** 32 + 101);
      expect(Buffer.from(await src.read(at, 10)).toString()).toBe("0123456789");
      const into = new Uint8Array(12);
      await src.readInto?.(at - 1, into);
      expect(Buffer.from(into).toString("latin1")).toBe("\u00000123456789\u0000");
      expect(Buffer.from(await src.read(2 ** 32 + 100, 1)).toString()).toBe("z");
    } finally {
      await src.close();
    }
  });
});
