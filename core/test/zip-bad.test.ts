/** The reader refuses every deviation from SPEC §7: corrupted, truncated, extended and crafted archives. */
import { describe, expect, test } from "vitest";
import { QcapError } from "../src/errors.js";
import { bytesSource, type RangeSource } from "../src/io/source.js";
import { setU64 } from "../src/zip/layout.js";
import { readCentralDirectory, readEntryData } from "../src/zip/reader.js";
import { assemble, concat, qcapError, type TestEntry, utf8 } from "./zip-helpers.js";

const entries: TestEntry[] = [
  { name: "payload/a.txt", data: utf8("hello") },
  { name: "payload/empty", data: new Uint8Array(0), mode: 0o755 },
  { name: "manifest.json", data: utf8("{}") },
];
const good = assemble(entries);

/** Everything a capsule reader does at the container level: directory, then every entry. */
async function readAll(src: RangeSource): Promise<void> {
  const cd = await readCentralDirectory(src);
  for (const e of cd.entries) await readEntryData(src, e);
}

async function refusal(bytes: Uint8Array): Promise<QcapError> {
  return qcapError(readAll(bytesSource(bytes)));
}

/** Offset of the central directory of `good`. */
const cdStart = (): number => (dataRanges().at(-1)?.[1] ?? 0) + 24;

/** Byte ranges of the stored data of `entries` in `good`. */
function dataRanges(): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  for (const e of entries) {
    const start = at + 50 + utf8(e.name).length;
    out.push([start, start + e.data.length]);
    at = start + e.data.length + 24;
  }
  return out;
}

describe("single-byte changes", () => {
  test("the intact archive reads", async () => {
    await readAll(bytesSource(good));
  });

  test("every change of every byte outside the stored data is detected", async () => {
    const data = dataRanges();
    const inData = (p: number) => data.some(([a, b]) => p >= a && p < b);
    // The one change the container cannot see: a mode 0644 <-> 0755 in a central directory header
    // (byte 2 of the external attributes, 0xa4 <-> 0xed). The capsule layer compares modes with the
    // signed manifest.
    const modeBytes = new Set<number>();
    let h = cdStart();
    for (const e of entries) {
      modeBytes.add(h + 40);
      h += 74 + utf8(e.name).length;
    }
    const undetected: string[] = [];
    const mutated = new Uint8Array(good);
    let positions = 0;
    for (let p = 0; p < good.length; p++) {
      if (inData(p)) continue;
      positions++;
      const orig = good[p] as number;
      for (let v = 0; v < 256; v++) {
        if (v === orig) continue;
        mutated[p] = v;
        try {
          await readAll(bytesSource(mutated));
          if (!(modeBytes.has(p) && ((orig === 0xa4 && v === 0xed) || (orig === 0xed && v === 0xa4))))
            undetected.push(`byte ${p}: ${orig} -> ${v}`);
        } catch (e) {
          if (!(e instanceof QcapError) || (e.kind !== "format" && e.kind !== "integrity")) throw e;
        }
      }
      mutated[p] = orig;
    }
    expect(positions).toBe(good.length - 7);
    expect(modeBytes.size).toBe(3);
    expect(undetected).toEqual([]);
  });

  test("a change in the stored data fails the CRC-32 check", async () => {
    for (const [a, b] of dataRanges()) {
      for (let p = a; p < b; p++) {
        const mutated = new Uint8Array(good);
        mutated[p] = (mutated[p] as number) ^ 0x20;
        const e = await refusal(mutated);
        expect(e.kind).toBe("integrity");
        expect(e.message).toMatch(/CRC-32 mismatch/);
      }
    }
  });
});

describe("bytes added or removed", () => {
  test.each([1, 4, 100])("%i bytes prepended", async (n) => {
    const e = await refusal(concat([new Uint8Array(n).fill(0x50), good]));
    expect(e.kind).toBe("format");
  });

  test("a copy of the archive prepended", async () => {
    const e = await refusal(concat([good, good]));
    expect(e.kind).toBe("format");
  });

  test.each([1, 22, 98, 1000])("%i bytes appended", async (n) => {
    const e = await refusal(concat([good, new Uint8Array(n)]));
    expect(e.kind).toBe("format");
    expect(e.message).toMatch(/truncated or not a capsule/);
  });

  test("end records appended again", async () => {
    const e = await refusal(concat([good, good.subarray(good.length - 98)]));
    expect(e.kind).toBe("format");
  });

  test("truncated anywhere", async () => {
    for (const cut of [
      0,
      1,
      21,
      22,
      97,
      98,
      99,
      150,
      good.length - 99,
      good.length - 98,
      good.length - 22,
      good.length - 1,
    ]) {
      const e = await refusal(good.subarray(0, cut));
      expect(e.kind, `cut at ${cut}`).toBe("format");
      expect(e.message, `cut at ${cut}`).toMatch(/truncated or not a capsule/);
    }
  });

  test("data removed from the middle", async () => {
    const e = await refusal(concat([good.subarray(0, 60), good.subarray(61)]));
    expect(e.kind).toBe("format");
  });
});

describe("crafted archives", () => {
  test("duplicate names", async () => {
    const e = await refusal(assemble([entries[0] as TestEntry, entries[0] as TestEntry]));
    expect(e.message).toMatch(/central directory entry 1: duplicate entry name "payload\/a.txt"/);
  });

  test.each([
    ["payload/../x", /"\.\." path component/],
    ["/payload/x", /absolute path/],
    ["payload\\x", /backslash/],
    ["payload/a\u0000b", /control character/],
    ["payload/e\u0301", /NFC/],
    ["payload/x/", /ends with/],
  ])("a bad name %j", async (name, message) => {
    const e = await refusal(assemble([{ name, data: utf8("x") }]));
    expect(e.kind).toBe("format");
    expect(e.message).toMatch(message);
  });

  test("names colliding after case folding", async () => {
    const e = await refusal(
      assemble([
        { name: "payload/Data.csv", data: utf8("1") },
        { name: "payload/data.CSV", data: utf8("2") },
      ]),
    );
    expect(e.message).toMatch(/collide after case folding/);
  });

  test("a file that is also a directory", async () => {
    const e = await refusal(
      assemble([
        { name: "payload/a", data: utf8("1") },
        { name: "payload/a/b", data: utf8("2") },
      ]),
    );
    expect(e.message).toMatch(/both a file and a directory/);
  });

  test("a name that is not UTF-8", async () => {
    const bytes = assemble([{ name: "payload/x", data: utf8("x") }]);
    // "x" is the last name byte in the local header (offset 38) and the central directory header.
    const cdName = bytes.length - 98 - 28 - 1;
    expect(bytes[38]).toBe(0x78);
    expect(bytes[cdName]).toBe(0x78);
    bytes[38] = 0xff;
    bytes[cdName] = 0xff;
    const e = await refusal(bytes);
    expect(e.message).toMatch(/central directory entry 0: name is not valid UTF-8/);
  });

  test("an entry claiming more bytes than the file has", async () => {
    const bytes = new Uint8Array(good);
    const v = new DataView(bytes.buffer);
    const x = cdStart() + 46 + utf8("payload/a.txt").length;
    setU64(v, x + 4, 2 ** 40);
    setU64(v, x + 12, 2 ** 40);
    const src = bytesSource(bytes);
    const e = await qcapError(readAll(src));
    expect(e.message).toMatch(/central directory entry 0: size 1099511627776 exceeds the file/);
    expect(src.bytesRead).toBeLessThan(bytes.length);
  });

  test("sizes of 2^53 or more", async () => {
    const bytes = new Uint8Array(good);
    const v = new DataView(bytes.buffer);
    const x = cdStart() + 46 + utf8("payload/a.txt").length;
    v.setUint32(x + 8, 0xffffffff, true);
    v.setUint32(x + 16, 0xffffffff, true);
    expect((await refusal(bytes)).message).toMatch(/too large/);
  });

  test("limits on the entry count and the directory size", async () => {
    const src = bytesSource(good);
    expect((await qcapError(readCentralDirectory(src, { maxEntries: 2 }))).message).toMatch(
      /too many entries: 3/,
    );
    expect((await qcapError(readCentralDirectory(src, { maxDirectoryBytes: 100 }))).message).toMatch(
      /central directory too large/,
    );
    // A huge count in the ZIP64 end record is refused before anything is read.
    const bytes = new Uint8Array(good);
    const v = new DataView(bytes.buffer);
    setU64(v, bytes.length - 98 + 24, 1e12);
    setU64(v, bytes.length - 98 + 32, 1e12);
    const big = bytesSource(bytes);
    expect((await qcapError(readCentralDirectory(big))).message).toMatch(/too many entries/);
    expect(big.bytesRead).toBe(98);
  });

  test("not a zip at all", async () => {
    for (const bytes of [new Uint8Array(0), utf8("hello"), new Uint8Array(1000)]) {
      const e = await refusal(bytes);
      expect(e.kind).toBe("format");
      expect(e.message).toMatch(/truncated or not a capsule/);
    }
  });
});
