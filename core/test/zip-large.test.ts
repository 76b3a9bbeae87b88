/**
 * ZIP64 for real: more than 65,535 entries, and an entry over 4 GiB followed by entries at offsets
 * over 4 GiB; read back by our reader and by Python's zipfile (and Info-ZIP unzip, 7-Zip).
 * Prints the writer's time and memory (no timing assertions).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { crc32Ready } from "../src/hash/crc32.js";
import { fileSink } from "../src/node/sink.js";
import { fileSource } from "../src/node/source.js";
import { checkEntryFrame, readCentralDirectory, readEntryData } from "../src/zip/reader.js";
import { ZipWriter } from "../src/zip/writer.js";
import { expectSameBytes, hasCommand, maxRssMiB, python, utf8 } from "./zip-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "qcap-zip-large-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const rssMiB = (): number => Math.round(process.memoryUsage().rss / MiB);

/** Free bytes on the file system of `path`. */
function freeBytes(path: string): number {
  const r = spawnSync("df", ["-Pk", path], { encoding: "utf8" });
  const avail = Number(r.stdout.trim().split("\n").pop()?.split(/\s+/)[3]);
  return Number.isFinite(avail) ? avail * 1024 : 0;
}

describe("more than 65,535 entries", () => {
  const COUNT = 70_000;
  const path = join(dir, "many.zip");
  const name = (i: number) => `payload/d${i % 100}/file-${String(i).padStart(6, "0")}.bin`;
  const body = (i: number) => utf8(`entry ${i}\n`.repeat(1 + (i % 50)));

  test("write 70,000 entries; our reader and Python read them back", async () => {
    await crc32Ready();
    const rss0 = rssMiB();
    let peak = rss0;
    const t0 = performance.now();
    const w = new ZipWriter(await fileSink(path));
    for (let i = 0; i < COUNT; i++) {
      await w.addEntry(name(i), 0o644, body(i));
      if (i % 5000 === 0) peak = Math.max(peak, rssMiB());
    }
    await w.addEntry("manifest.json", 0o644, utf8("{}"));
    const { size } = await w.finish();
    const ms = performance.now() - t0;
    peak = Math.max(peak, rssMiB());
    console.log(
      `ZipWriter: ${COUNT + 1} entries, ${(size / MiB).toFixed(1)} MiB in ${ms.toFixed(0)} ms; ` +
        `RSS ${rss0} -> peak ${peak} MiB (process max RSS ${maxRssMiB()} MiB)`,
    );
    expect(statSync(path).size).toBe(size);

    const t1 = performance.now();
    const src = await fileSource(path);
    const cd = await readCentralDirectory(src);
    console.log(
      `readCentralDirectory: ${cd.entries.length} entries in ${(performance.now() - t1).toFixed(0)} ms`,
    );
    expect(cd.entries.length).toBe(COUNT + 1);
    for (const i of [0, 1, 65_535, 65_536, COUNT - 1]) {
      const e = cd.entries[i];
      expect(e?.name).toBe(name(i));
      expectSameBytes(await readEntryData(src, e as never), body(i));
    }
    await src.close();

    const py = python(
      `
import sys, zipfile, json, struct
with zipfile.ZipFile(sys.argv[1]) as z:
    infos = z.infolist()
    picks = [0, 65535, 65536, ${COUNT - 1}]
    print(json.dumps(dict(count=len(infos), names=[infos[i].filename for i in picks],
        data=[z.read(infos[i]).decode() for i in picks], last=infos[-1].filename)))
`,
      path,
    ) as { count: number; names: string[]; data: string[]; last: string };
    expect(py.count).toBe(COUNT + 1);
    expect(py.last).toBe("manifest.json");
    const picks = [0, 65_535, 65_536, COUNT - 1];
    expect(py.names).toEqual(picks.map(name));
    expect(py.data).toEqual(picks.map((i) => new TextDecoder().decode(body(i))));

    const t = spawnSync("unzip", ["-tq", path], { encoding: "utf8" });
    expect(t.stdout).toMatch(/No errors detected/);
  });
});

describe("an entry over 4 GiB", () => {
  const CHUNKS = 4097; // 4 GiB + 1 MiB
  const path = join(dir, "huge.zip");
  const HUGE = CHUNKS * MiB;

  test.runIf(freeBytes(tmpdir()) > HUGE + 2 * 1024 * MiB)(
    "write it and entries after it; read back by our reader, Python, unzip and 7-Zip",
    async () => {
      await crc32Ready();
      const chunk = new Uint8Array(MiB).map((_, i) => (i ^ (i >> 8)) & 0xff);
      const rss0 = rssMiB();
      let peak = rss0;
      const t0 = performance.now();
      const w = new ZipWriter(await fileSink(path));
      await w.beginEntry("payload/huge.bin", 0o644);
      for (let i = 0; i < CHUNKS; i++) {
        await w.write(chunk);
        if (i % 256 === 0) peak = Math.max(peak, rssMiB());
      }
      const huge = await w.endEntry();
      await w.addEntry("payload/after.txt", 0o755, utf8("after the huge one"));
      await w.addEntry("manifest.json", 0o644, utf8('{"qcap":1}'));
      await w.addEntry("signatures/manifest.ed25519", 0o644, new Uint8Array(64).fill(5));
      const { size } = await w.finish();
      const s = (performance.now() - t0) / 1000;
      peak = Math.max(peak, rssMiB());
      console.log(
        `ZipWriter: ${(size / MiB).toFixed(0)} MiB with one ${HUGE} byte entry in ${s.toFixed(1)} s ` +
          `(${(size / MiB / s).toFixed(0)} MiB/s, CRC-32 and file writes); RSS ${rss0} -> peak ${peak} MiB`,
      );
      expect(huge.size).toBe(HUGE);
      expect(statSync(path).size).toBe(size);

      // Our reader.
      const src = await fileSource(path);
      const cd = await readCentralDirectory(src);
      expect(cd.entries.map((e) => [e.name, e.size])).toEqual([
        ["payload/huge.bin", HUGE],
        ["payload/after.txt", 18],
        ["manifest.json", 10],
        ["signatures/manifest.ed25519", 64],
      ]);
      const after = cd.entries[1];
      expect(after?.offset).toBeGreaterThan(2 ** 32);
      expect(cd.offset).toBeGreaterThan(2 ** 32);
      expect(await checkEntryFrame(src, cd.entries[0] as never)).toBe(50 + 16);
      expectSameBytes(await readEntryData(src, after as never), utf8("after the huge one"));
      expectSameBytes(await readEntryData(src, cd.entries[2] as never), utf8('{"qcap":1}'));
      await src.close();

      // Python: the directory, the entries after 4 GiB, and the CRC of the huge one computed by zlib.
      const py = python(
        `
import sys, zipfile, json, zlib
chunk = bytes((i ^ (i >> 8)) & 0xff for i in range(1 << 20))
crc = 0
for _ in range(${CHUNKS}):
    crc = zlib.crc32(chunk, crc)
with zipfile.ZipFile(sys.argv[1]) as z:
    infos = z.infolist()
    print(json.dumps(dict(
        entries=[[i.filename, i.file_size, i.compress_size, i.header_offset, i.CRC] for i in infos],
        after=z.read("payload/after.txt").decode(), manifest=z.read("manifest.json").decode(),
        crc=crc)))
`,
        path,
      ) as {
        entries: [string, number, number, number, number][];
        after: string;
        manifest: string;
        crc: number;
      };
      expect(py.entries.map(([n, s, c, o]) => [n, s, c, o])).toEqual(
        cd.entries.map((e) => [e.name, e.size, e.size, e.offset]),
      );
      expect(py.entries[0]?.[4]).toBe(huge.crc32);
      expect(py.crc).toBe(huge.crc32);
      expect(py.after).toBe("after the huge one");
      expect(py.manifest).toBe('{"qcap":1}');

      // Info-ZIP unzip: list sizes; test the entries that lie beyond 4 GiB.
      const l = spawnSync("unzip", ["-l", path], { encoding: "utf8" });
      expect(l.stdout).toMatch(new RegExp(`^\\s*${HUGE}\\s.*payload/huge\\.bin$`, "m"));
      const t = spawnSync("unzip", ["-t", path, "payload/after.txt", "manifest.json"], { encoding: "utf8" });
      expect(t.stdout).toMatch(/No errors detected/);
      if (hasCommand("7z")) {
        const z = spawnSync("7z", ["l", "-slt", path], { encoding: "utf8" });
        expect(z.stdout).toMatch(new RegExp(`Path = payload/huge\\.bin\\nFolder = -\\nSize = ${HUGE}\\n`));
        expect(z.stdout).not.toMatch(/Warnings?:|ERROR/i);
      }
      rmSync(path);
    },
  );
});
