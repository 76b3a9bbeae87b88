/** SPEC §7.2 byte layout, the writer against it, round trips, CRC-32 and entry names. */
import { describe, expect, test } from "vitest";
import { crc32, crc32Combine, crc32JsOnly, crc32Ready, createCrc32 } from "../src/hash/crc32.js";
import { memorySink } from "../src/io/sink.js";
import { bytesSource } from "../src/io/source.js";
import {
  centralHeader,
  computeLayout,
  dataDescriptor,
  endRecords,
  localHeader,
  type ZipEntrySpec,
} from "../src/zip/layout.js";
import { checkNameSet, utf8Length, validateEntryName } from "../src/zip/names.js";
import { checkEntryFrame, readCentralDirectory, readEntryData } from "../src/zip/reader.js";
import { ZipWriter } from "../src/zip/writer.js";
import {
  assemble,
  concat,
  expectSameBytes,
  hex,
  qcapErrorSync,
  type TestEntry,
  utf8,
  writeArchive,
} from "./zip-helpers.js";

const le = (v: number, bytes: number): string => {
  let s = "";
  for (let i = 0; i < bytes; i++) s += (Math.floor(v / 2 ** (8 * i)) % 256).toString(16).padStart(2, "0");
  return s;
};

describe("SPEC §7.2 records, byte for byte", () => {
  // One entry "a" holding "hi" (CRC-32 0xd8932aac), written out by hand from the tables of §7.2.
  const crc = 0xd8932aac;
  const local = [
    "504b0304",
    "2d00",
    "0808",
    "0000",
    "0000",
    "2100",
    "00000000",
    "ffffffff",
    "ffffffff",
    "0100",
    "1400",
    "61",
    "0100",
    "1000",
    "0000000000000000",
    "0000000000000000",
  ].join("");
  const descriptor = `504b0708${le(crc, 4)}${le(2, 8)}${le(2, 8)}`;
  const central = [
    "504b0102",
    "2d03",
    "2d00",
    "0808",
    "0000",
    "0000",
    "2100",
    le(crc, 4),
    "ffffffff",
    "ffffffff",
    "0100",
    "1c00",
    "0000",
    "0000",
    "0000",
    "0000a481",
    "ffffffff",
    "61",
    "0100",
    "1800",
    le(2, 8),
    le(2, 8),
    le(0, 8),
  ].join("");
  // 51 + 2 + 24 = 77: the directory starts there, is 75 bytes, the ZIP64 end record is at 152.
  const end = [
    "504b0606",
    le(44, 8),
    "2d03",
    "2d00",
    "00000000",
    "00000000",
    le(1, 8),
    le(1, 8),
    le(75, 8),
    le(77, 8),
    "504b0607",
    "00000000",
    le(152, 8),
    "01000000",
    "504b0506",
    "0000",
    "0000",
    "ffff",
    "ffff",
    "ffffffff",
    "ffffffff",
    "0000",
  ].join("");

  test("each builder", () => {
    expect(hex(localHeader("a"))).toBe(local);
    expect(hex(dataDescriptor(crc, 2))).toBe(descriptor);
    expect(hex(centralHeader({ name: "a", size: 2, crc32: crc, mode: 0o644 }, 0))).toBe(central);
    expect(hex(endRecords(1, 77, 75))).toBe(end);
    expect(localHeader("payload/é").length).toBe(50 + 10);
    expect(centralHeader({ name: "payload/é", size: 0, crc32: 0, mode: 0o755 }, 0).length).toBe(74 + 10);
  });

  test("the whole archive, from computeLayout and from the writer", async () => {
    const layout = computeLayout([{ name: "a", size: 2, crc32: crc, mode: 0o644 }]);
    expect(layout.entries).toEqual([
      { name: "a", size: 2, crc32: crc, mode: 0o644, offset: 0, dataOffset: 51 },
    ]);
    expect(layout.centralDirectoryOffset).toBe(77);
    expect(hex(layout.centralDirectory)).toBe(central);
    expect(hex(layout.end)).toBe(end);
    expect(layout.totalSize).toBe(250);
    const written = await writeArchive([{ name: "a", data: utf8("hi") }]);
    expect(hex(written)).toBe(local + hex(utf8("hi")) + descriptor + central + end);
  });

  test("u64 fields beyond 4 GiB and up to 2^53 - 1", () => {
    const big = 2 ** 53 - 1;
    const off = 2 ** 40 + 5;
    const h = centralHeader({ name: "a", size: big, crc32: 0xffffffff, mode: 0o755 }, off);
    expect(hex(h.subarray(38, 42))).toBe("0000ed81");
    expect(hex(h.subarray(16, 20))).toBe("ffffffff");
    expect(hex(h.subarray(51))).toBe(le(big, 8) + le(big, 8) + le(off, 8));
    expect(hex(dataDescriptor(1, 2 ** 32)).slice(16)).toBe(le(2 ** 32, 8) + le(2 ** 32, 8));
    expect(() => dataDescriptor(0, 2 ** 53)).toThrow(RangeError);
    expect(() => centralHeader({ name: "a", size: 1, crc32: 0, mode: 0o600 }, 0)).toThrow(RangeError);
    expect(() => centralHeader({ name: "a", size: 1, crc32: 2 ** 32, mode: 0o644 }, 0)).toThrow(RangeError);
  });

  test("computeLayout places entries one after another", () => {
    const specs: ZipEntrySpec[] = [
      { name: "payload/x", size: 10, crc32: 1, mode: 0o644 },
      { name: "payload/é", size: 0, crc32: 0, mode: 0o755 },
      { name: "manifest.json", size: 3, crc32: 2, mode: 0o644 },
    ];
    const l = computeLayout(specs);
    let at = 0;
    l.entries.forEach((e, i) => {
      const n = utf8(specs[i]?.name ?? "").length;
      expect(e.offset).toBe(at);
      expect(e.dataOffset).toBe(at + 50 + n);
      at += 50 + n + e.size + 24;
    });
    expect(l.centralDirectoryOffset).toBe(at);
    expect(l.centralDirectory).toEqual(concat(l.entries.map((e) => centralHeader(e, e.offset))));
    expect(l.end).toEqual(endRecords(3, at, l.centralDirectory.length));
    expect(l.totalSize).toBe(at + l.centralDirectory.length + 98);
  });

  test("computeLayout is linear: 70,000 entries", () => {
    const specs: ZipEntrySpec[] = [];
    for (let i = 0; i < 70_000; i++)
      specs.push({ name: `payload/dir${i % 100}/file-${i}.bin`, size: 4096, crc32: i, mode: 0o644 });
    const t0 = performance.now();
    const l = computeLayout(specs);
    console.log(`computeLayout, 70,000 entries: ${(performance.now() - t0).toFixed(0)} ms`);
    expect(l.entries.length).toBe(70_000);
  });
});

describe("writer", () => {
  const entries: TestEntry[] = [
    { name: "payload/b.txt", data: utf8("hello, world\n") },
    { name: "payload/empty", data: new Uint8Array(0) },
    { name: "payload/dir/ünïcödé 名前.bin", data: new Uint8Array(100_000).map((_, i) => i * 7), mode: 0o755 },
    { name: "index/payload/dir/ünïcödé 名前.bin", data: new Uint8Array(64).fill(9) },
    { name: "manifest.json", data: utf8("{}") },
    { name: "signatures/manifest.ed25519", data: new Uint8Array(64).fill(1) },
  ];

  test("writes exactly what computeLayout predicts (and what the builders assemble)", async () => {
    const written = await writeArchive(entries);
    expectSameBytes(written, assemble(entries));
    // Streaming in uneven chunks gives the same bytes and CRCs.
    const sink = memorySink();
    const w = new ZipWriter(sink);
    for (const e of entries) {
      await w.beginEntry(e.name, e.mode ?? 0o644);
      for (let at = 0; at < e.data.length; at += 9973) await w.write(e.data.subarray(at, at + 9973));
      const r = await w.endEntry();
      expect(r).toEqual({ crc32: crc32(e.data), size: e.data.length });
    }
    const { size } = await w.finish();
    expect(size).toBe(written.length);
    expectSameBytes(sink.bytes(), written);
  });

  test("addEntries writes the bytes of addEntry for each, around single entries", async () => {
    const written = await writeArchive(entries);
    const sink = memorySink();
    const w = new ZipWriter(sink);
    const [first, ...rest] = entries as [TestEntry, ...TestEntry[]];
    await w.addEntry(first.name, first.mode ?? 0o644, first.data);
    const batch = rest
      .slice(0, 3)
      .map((e) => ({ name: e.name, mode: e.mode ?? 0o644, bytes: e.data, crc32: crc32(e.data) }));
    await w.addEntries(batch);
    for (const e of rest.slice(3)) await w.addEntry(e.name, e.mode ?? 0o644, e.data);
    await w.finish();
    expectSameBytes(sink.bytes(), written);
    // Names are checked as addEntry checks them, against the ones written before.
    const again = new ZipWriter(memorySink());
    await again.addEntry("payload/a", 0o644, utf8("x"));
    await expect(
      again.addEntries([{ name: "payload/A", mode: 0o644, bytes: utf8("y"), crc32: crc32(utf8("y")) }]),
    ).rejects.toThrow();
  });

  test("round trip through the reader", async () => {
    const bytes = await writeArchive(entries);
    const src = bytesSource(bytes);
    const cd = await readCentralDirectory(src);
    const layout = computeLayout(
      entries.map((e) => ({
        name: e.name,
        size: e.data.length,
        crc32: crc32(e.data),
        mode: e.mode ?? 0o644,
      })),
    );
    expect(cd.offset).toBe(layout.centralDirectoryOffset);
    expect(cd.bytes).toEqual(layout.centralDirectory);
    expect(cd.end).toEqual(layout.end);
    expect(cd.entries).toEqual(layout.entries.map(({ dataOffset: _, ...e }) => e));
    for (const [i, e] of cd.entries.entries()) {
      expectSameBytes(await readEntryData(src, e), entries[i]?.data);
      expect(await checkEntryFrame(src, e)).toBe(layout.entries[i]?.dataOffset);
    }
  });

  test("an empty archive", async () => {
    const bytes = await writeArchive([]);
    expect(bytes).toEqual(endRecords(0, 0, 0));
    expect((await readCentralDirectory(bytesSource(bytes))).entries).toEqual([]);
  });

  test("refuses misuse, bad names and bad modes", async () => {
    const w = new ZipWriter(memorySink());
    await expect(w.write(utf8("x"))).rejects.toThrow(/no entry is open/);
    await expect(w.beginEntry("payload/../x", 0o644)).rejects.toThrow(/"\.\." path component/);
    await expect(w.beginEntry("payload/x", 0o600)).rejects.toThrow(RangeError);
    await w.beginEntry("payload/x", 0o644);
    await expect(w.beginEntry("payload/y", 0o644)).rejects.toThrow(/still open/);
    await expect(w.finish()).rejects.toThrow(/still open/);
    await w.endEntry();
    await expect(w.addEntry("payload/X", 0o644, utf8("x"))).rejects.toThrow(/collide after case folding/);
    await expect(w.addEntry("payload/x/y", 0o644, utf8("x"))).rejects.toThrow(/both a file and a directory/);
    await w.finish();
    await expect(w.addEntry("payload/z", 0o644, utf8("x"))).rejects.toThrow(/finished/);
  });
});

describe("CRC-32", () => {
  test("check values", async () => {
    expect(crc32(utf8("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32JsOnly(utf8("123456789"))).toBe(0xcbf43926);
    expect(await crc32Ready()).toBe(true);
  });

  test("JS, WASM and combined results agree for any split", async () => {
    await crc32Ready();
    const data = new Uint8Array(300_000).map((_, i) => (i * 2654435761) >>> 13);
    const whole = crc32JsOnly(data);
    expect(crc32(data)).toBe(whole);
    for (const cut of [0, 1, 15, 16, 17, 16383, 16384, 65536, 123_457, 299_999, 300_000]) {
      const a = data.subarray(0, cut);
      const b = data.subarray(cut);
      expect(crc32Combine(crc32JsOnly(a), crc32JsOnly(b), b.length)).toBe(whole);
      const c = createCrc32();
      c.update(a);
      c.update(b);
      expect(c.digest()).toBe(whole);
    }
    // Many hashers at once (the WASM engine is shared).
    const hs = [createCrc32(), createCrc32(), createCrc32()];
    for (let at = 0; at < data.length; at += 20_000)
      for (const h of hs) h.update(data.subarray(at, at + 20_000));
    for (const h of hs) expect(h.digest()).toBe(whole);
    expect(crc32Combine(0x12345678, 0, 2 ** 40)).toBe(crc32Combine(0x12345678, 0, 2 ** 40));
  });
});

describe("entry names (SPEC §2 without the prefix rule)", () => {
  test.each([
    "payload/a",
    "payload/dir/sub/file.tif",
    "manifest.json",
    "payload/ünïcödé/名前",
    "payload/with space/a..b/.hidden/x.",
    `payload/${"x".repeat(1016)}`,
  ])("accepts %j", (name) => {
    expect(() => validateEntryName(name)).not.toThrow();
  });

  test.each([
    ["", /empty entry name/],
    ["/payload/a", /absolute path/],
    ["payload/../a", /"\.\." path component/],
    ["payload/./a", /"\." path component/],
    ["..", /"\.\." path component/],
    ["payload//a", /empty path component/],
    ["payload/a/", /ends with "\/"/],
    ["payload\\a", /backslash/],
    ["payload/a\u0000b", /control character/],
    ["payload/a\u001fb", /control character/],
    ["payload/a\u007fb", /control character/],
    ["payload/e\u0301", /NFC/],
    ["payload/\ud800", /not valid Unicode/],
    [`payload/${"x".repeat(1017)}`, /longer than 1024 bytes/],
    [`payload/${"é".repeat(509)}`, /longer than 1024 bytes/],
  ])("refuses %j", (name, message) => {
    const e = qcapErrorSync(() => validateEntryName(name));
    expect(e.kind).toBe("format");
    expect(e.message).toMatch(message);
  });

  test("utf8Length agrees with TextEncoder, lone surrogates included", () => {
    for (const s of [
      "",
      "abc",
      "é",
      "名前",
      "😀",
      "a\ud800b",
      "\udc00",
      "\ud800",
      "x😀\ud83d",
      "\u07ff\u0800\uffff",
    ]) {
      expect(utf8Length(s), JSON.stringify(s)).toBe(new TextEncoder().encode(s).length);
      expect(localHeader(s).length).toBe(50 + utf8Length(s));
    }
  });

  test("name sets", () => {
    expect(() =>
      checkNameSet(["payload/a", "payload/b", "payload/c/d", "payload/c/e", "meta/a"]),
    ).not.toThrow();
    expect(qcapErrorSync(() => checkNameSet(["payload/a", "payload/a"])).message).toMatch(
      /duplicate entry name/,
    );
    expect(qcapErrorSync(() => checkNameSet(["payload/README", "payload/readme"])).message).toMatch(
      /"payload\/README" and "payload\/readme" collide after case folding/,
    );
    expect(qcapErrorSync(() => checkNameSet(["payload/Ä", "payload/ä"])).message).toMatch(/case folding/);
    expect(qcapErrorSync(() => checkNameSet(["payload/e\u0301"])).message).toMatch(/not in Unicode NFC/);
    expect(qcapErrorSync(() => checkNameSet(["payload/a", "payload/a/b"])).message).toMatch(
      /"payload\/a" is both a file and a directory/,
    );
    expect(qcapErrorSync(() => checkNameSet(["payload/a/b/c", "payload/A/b"])).message).toMatch(
      /both a file and a directory/,
    );
    expect(
      qcapErrorSync(() => checkNameSet(["payload/x/y/z", "payload/x/y/w", "payload/x"])).message,
    ).toMatch(/both a file and a directory/);
  });
});
