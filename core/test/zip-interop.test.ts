/** Standard readers accept what the writer makes: Python's zipfile, Info-ZIP unzip, and 7-Zip if present. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { crc32 } from "../src/hash/crc32.js";
import { fileSink } from "../src/node/sink.js";
import { ZipWriter } from "../src/zip/writer.js";
import { hasCommand, python, type TestEntry, utf8 } from "./zip-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "qcap-zip-interop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entries: TestEntry[] = [
  { name: "payload/hello.txt", data: utf8("hello, world\n") },
  { name: "payload/empty", data: new Uint8Array(0) },
  { name: "payload/tool.sh", data: utf8("#!/bin/sh\necho hi\n"), mode: 0o755 },
  { name: "payload/ünïcödé/名前.bin", data: new Uint8Array(200_000).map((_, i) => (i * 31) ^ (i >> 8)) },
  { name: "index/payload/ünïcödé/名前.bin", data: new Uint8Array(96).fill(3) },
  { name: "meta/item.json", data: utf8('{"type":"Feature"}') },
  { name: "manifest.json", data: utf8('{"qcap":1}') },
  { name: "signatures/manifest.ed25519", data: new Uint8Array(64).fill(0xab) },
];

async function writeFile(path: string, list: TestEntry[]): Promise<void> {
  const w = new ZipWriter(await fileSink(path));
  for (const e of list) await w.addEntry(e.name, e.mode ?? 0o644, e.data);
  await w.finish();
}

/** Lists an archive with Python's zipfile, reading every entry (zipfile checks each CRC-32). */
const LIST = `
import sys, zipfile, json, hashlib
with zipfile.ZipFile(sys.argv[1]) as z:
    out = []
    for i in z.infolist():
        data = z.read(i)
        out.append(dict(name=i.filename, size=i.file_size, csize=i.compress_size, crc=i.CRC,
            method=i.compress_type, flags=i.flag_bits, mode=i.external_attr >> 16, offset=i.header_offset,
            sha=hashlib.sha256(data).hexdigest(), date=list(i.date_time), system=i.create_system))
    print(json.dumps(dict(entries=out, bad=z.testzip())))
`;

const sha256 = (b: Uint8Array): string => {
  const r = spawnSync("sha256sum", { input: b });
  return r.stdout.toString().split(" ")[0] ?? "";
};

describe("interoperability", () => {
  const path = join(dir, "interop.zip");

  test("Python zipfile lists and reads every entry with matching CRCs", async () => {
    await writeFile(path, entries);
    const r = python(LIST, path) as { entries: Record<string, unknown>[]; bad: string | null };
    expect(r.bad).toBeNull();
    expect(r.entries).toEqual(
      entries.map((e) =>
        expect.objectContaining({
          name: e.name,
          size: e.data.length,
          csize: e.data.length,
          crc: crc32(e.data),
          method: 0,
          flags: 0x0808,
          mode: 0o100000 | (e.mode ?? 0o644),
          sha: sha256(e.data),
          date: [1980, 1, 1, 0, 0, 0],
          system: 3,
        }),
      ),
    );
  });

  test("Info-ZIP unzip -t finds no errors, and extracts with modes", async () => {
    await writeFile(path, entries);
    const t = spawnSync("unzip", ["-t", path], { encoding: "utf8" });
    expect(t.stdout + t.stderr).toMatch(/No errors detected in compressed data/);
    expect(t.status).toBe(0);
    const out = join(dir, "unzipped");
    const x = spawnSync("unzip", ["-q", "-o", path, "-d", out], { encoding: "utf8" });
    expect(x.status, x.stderr).toBe(0);
    const check = python(
      `import os, sys, json; p = sys.argv[1]
print(json.dumps([os.stat(os.path.join(p, n)).st_mode & 0o777 for n in sys.argv[2:]]))`,
      out,
      "payload/tool.sh",
      "payload/hello.txt",
      "payload/ünïcödé/名前.bin",
    );
    expect(check).toEqual([0o755, 0o644, 0o644]);
  });

  test.runIf(hasCommand("7z"))("7-Zip tests the archive without errors", async () => {
    await writeFile(path, entries);
    const t = spawnSync("7z", ["t", path], { encoding: "utf8" });
    expect(t.stdout).toMatch(/Everything is Ok/);
    expect(t.stdout).not.toMatch(/Warnings?:/);
    expect(t.status).toBe(0);
  });

  test("an empty archive", async () => {
    const empty = join(dir, "empty.zip");
    await writeFile(empty, []);
    expect(python(LIST, empty)).toEqual({ entries: [], bad: null });
  });
});
