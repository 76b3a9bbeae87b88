/** Range sources (HTTP, tail cache, files) and sinks (memory, files). */
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { memorySink } from "../src/io/sink.js";
import {
  blobSource,
  bytesSource,
  DEFAULT_HTTP_TAIL,
  httpSource,
  tailCachedSource,
} from "../src/io/source.js";
import { fileSink } from "../src/node/sink.js";
import { fileSource } from "../src/node/source.js";
import { readCentralDirectory, readEntryData } from "../src/zip/reader.js";
import { ZipWriter } from "../src/zip/writer.js";
import { expectSameBytes, qcapError, utf8, writeArchive } from "./zip-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "qcap-zip-io-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A capsule-like archive: a large payload entry, then small entries at the end.
const big = new Uint8Array(600_000).map((_, i) => (i * 131) >>> 3);
const archive = await writeArchive([
  { name: "payload/big.bin", data: big },
  { name: "payload/small.txt", data: utf8("small") },
  { name: "manifest.json", data: utf8('{"qcap":1}') },
  { name: "signatures/manifest.ed25519", data: new Uint8Array(64).fill(7) },
]);

type Mode = "range" | "ignore" | "ignore-after-probe" | "no-suffix" | "bad-range" | "grow";
interface Hit {
  path: string;
  range: string | undefined;
  headers: Record<string, unknown>;
}

describe("httpSource", () => {
  let server: Server;
  let base = "";
  const hits: Hit[] = [];
  const files: Record<string, Uint8Array> = {
    "/a.zip": archive,
    "/empty": new Uint8Array(0),
    "/tiny": utf8("tiny file"),
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const mode = (url.searchParams.get("mode") ?? "range") as Mode;
      const body = files[url.pathname];
      hits.push({ path: url.pathname, range: req.headers.range, headers: req.headers });
      if (!body) {
        res.writeHead(404, "Not Found").end("no");
        return;
      }
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
      const probe = m?.[1] === ""; // httpSource's first request asks for a suffix
      if (
        mode === "ignore" ||
        (mode === "ignore-after-probe" && !probe) ||
        (mode === "no-suffix" && probe) ||
        !m
      ) {
        res.writeHead(200, { "Content-Length": body.length }).end(body);
        return;
      }
      const size = body.length + (mode === "grow" && !probe ? 1 : 0);
      let start: number;
      let end: number;
      if (m[1] === "") {
        start = Math.max(0, size - Number(m[2]));
        end = size - 1;
      } else {
        start = Number(m[1]);
        end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
      }
      if (size === 0 || start >= size || start > end) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
        return;
      }
      if (mode === "bad-range" && !probe) start += 1;
      const part = body.subarray(start, end + 1);
      res
        .writeHead(206, { "Content-Range": `bytes ${start}-${end}/${size}`, "Content-Length": part.length })
        .end(part);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.close();
  });

  test("a capsule's end records, directory, manifest and signature arrive in one request", async () => {
    hits.length = 0;
    const src = await httpSource(`${base}/a.zip`);
    expect(src.size).toBe(archive.length);
    expect(hits.map((h) => h.range)).toEqual([`bytes=-${DEFAULT_HTTP_TAIL}`]);
    // The Fetch standard adds "Accept-Encoding: identity" to ranged requests.
    expect(hits[0]?.headers["accept-encoding"]).toBe("identity");
    const cd = await readCentralDirectory(src);
    const [, small, manifest, signature] = cd.entries;
    expectSameBytes(await readEntryData(src, manifest as never), utf8('{"qcap":1}'));
    expectSameBytes(await readEntryData(src, signature as never), new Uint8Array(64).fill(7));
    expectSameBytes(await readEntryData(src, small as never), utf8("small"));
    expect(src.requests).toBe(1);
    expect(src.bytesRead).toBe(DEFAULT_HTTP_TAIL);
    // The large entry lies before the tail: a ranged request for exactly its bytes.
    expectSameBytes(await readEntryData(src, cd.entries[0] as never), big);
    expect(src.requests).toBe(2);
    const first = cd.entries[0]?.offset ?? -1;
    expect(hits[1]?.range).toBe(`bytes=${first}-${first + 50 + 15 + big.length + 24 - 1}`);
    await src.close();
  });

  test("tailCachedSource reads the tail once; reads inside it need no request", async () => {
    hits.length = 0;
    const http = await httpSource(`${base}/a.zip`, { tail: 0 });
    expect(http.requests).toBe(1);
    expect(hits[0]?.range).toBe("bytes=0-0");
    const src = await tailCachedSource(http, 64 * 1024);
    expect(src.requests).toBe(2);
    expect(hits[1]?.range).toBe(`bytes=${archive.length - 65536}-${archive.length - 1}`);
    const cd = await readCentralDirectory(src);
    for (const e of cd.entries.slice(1)) await readEntryData(src, e);
    expect(src.requests).toBe(2);
    // A read straddling the start of the tail fetches only the part before it.
    const from = archive.length - 65536 - 100;
    expectSameBytes(await src.read(from, 300), archive.subarray(from, from + 300));
    expect(src.requests).toBe(3);
    expect(hits[2]?.range).toBe(`bytes=${from}-${from + 99}`);
    // The CLI's way: httpSource's first response covers the tail cache, so one request in all.
    hits.length = 0;
    const cli = await tailCachedSource(await httpSource(`${base}/a.zip`), DEFAULT_HTTP_TAIL);
    await readCentralDirectory(cli);
    expect(cli.requests).toBe(1);
    expect(hits.length).toBe(1);
  });

  test("a server that ignores Range is refused without downloading the file", async () => {
    const e = await qcapError(httpSource(`${base}/a.zip?mode=ignore`));
    expect(e.kind).toBe("input");
    expect(e.message).toMatch(
      /^cannot read http:\/\/127\.0\.0\.1:\d+\/a\.zip: the server ignores HTTP range requests/,
    );
    const e2 = await qcapError(httpSource(`${base}/a.zip?mode=ignore`, { tail: 0 }));
    expect(e2.message).toMatch(/ignores HTTP range requests/);
    // Honouring the first range only is caught on the next read.
    hits.length = 0;
    const src = await httpSource(`${base}/a.zip?mode=ignore-after-probe`);
    const e3 = await qcapError(src.read(0, 10));
    expect(e3.message).toMatch(/ignores HTTP range requests \(status 200 instead of 206\)/);
  });

  test("a server without suffix ranges costs one more request", async () => {
    hits.length = 0;
    const src = await tailCachedSource(await httpSource(`${base}/a.zip?mode=no-suffix`), 64 * 1024);
    expect(hits.map((h) => h.range)).toEqual([
      `bytes=-${DEFAULT_HTTP_TAIL}`,
      "bytes=0-0",
      `bytes=${archive.length - 65536}-${archive.length - 1}`,
    ]);
    expect(src.size).toBe(archive.length);
    expect(src.bytesRead).toBe(1 + 65536);
    const cd = await readCentralDirectory(src);
    expectSameBytes(await readEntryData(src, cd.entries[2] as never), utf8('{"qcap":1}'));
    expect(src.requests).toBe(3);
  });

  test("a whole file no larger than the tail is fine even without Range support", async () => {
    const src = await httpSource(`${base}/tiny?mode=ignore`);
    expect(src.size).toBe(9);
    expectSameBytes(await src.read(5, 4), utf8("file"));
    expect(src.requests).toBe(1);
  });

  test("an empty file", async () => {
    for (const tail of [0, 1000]) {
      const src = await httpSource(`${base}/empty`, { tail });
      expect(src.size).toBe(0);
      expect((await src.read(0, 0)).length).toBe(0);
    }
  });

  test("wrong Content-Range, changed size, HTTP errors", async () => {
    const bad = await httpSource(`${base}/a.zip?mode=bad-range`, { tail: 100 });
    expect((await qcapError(bad.read(0, 10))).message).toMatch(/unexpected Content-Range "bytes 1-9\//);
    const grown = await httpSource(`${base}/a.zip?mode=grow`, { tail: 100 });
    expect((await qcapError(grown.read(0, 10))).message).toMatch(/the file changed size/);
    const e = await qcapError(httpSource(`${base}/missing.zip`));
    expect(e.kind).toBe("input");
    expect(e.message).toMatch(/: HTTP 404 Not Found$/);
    const src = await httpSource(`${base}/a.zip`);
    expect((await qcapError(src.read(archive.length - 5, 10))).kind).toBe("format");
  });

  test("network errors are one-line input errors; query strings stay out of messages", async () => {
    const s = createServer();
    s.listen(0, "127.0.0.1");
    await once(s, "listening");
    const port = (s.address() as AddressInfo).port;
    s.close();
    await once(s, "close");
    const e = await qcapError(httpSource(`http://127.0.0.1:${port}/x.qcap?token=secret`));
    expect(e.kind).toBe("input");
    expect(e.message).toMatch(
      new RegExp(`^cannot read http://127\\.0\\.0\\.1:${port}/x\\.qcap: fetch failed`),
    );
    expect(e.message).toMatch(/ECONNREFUSED/);
    expect(e.message).not.toMatch(/secret|\n/);
    const src = await httpSource(`${base}/a.zip?token=secret`);
    expect(src.name).toBe(`${base}/a.zip`);
  });

  test("custom headers and fetch", async () => {
    hits.length = 0;
    let calls = 0;
    const src = await httpSource(`${base}/a.zip`, {
      headers: { Authorization: "Bearer t" },
      fetch: (input, init) => {
        calls++;
        return fetch(input, init);
      },
    });
    await src.read(0, 4);
    expect(calls).toBe(2);
    expect(hits.every((h) => h.headers.authorization === "Bearer t")).toBe(true);
  });
});

describe("fileSource", () => {
  test("reads ranges", async () => {
    const path = join(dir, "src.zip");
    const w = new ZipWriter(await fileSink(path));
    await w.addEntry("payload/x", 0o644, utf8("xyz"));
    await w.finish();
    const src = await fileSource(path);
    expect(src.size).toBe(statSync(path).size);
    expect(src.name).toBe(path);
    const cd = await readCentralDirectory(src);
    expectSameBytes(await readEntryData(src, cd.entries[0] as never), utf8("xyz"));
    expect((await qcapError(src.read(src.size - 1, 2))).kind).toBe("format");
    await src.close();
  });

  test("unreadable files are input errors", async () => {
    const missing = join(dir, "missing.qcap");
    const e = await qcapError(fileSource(missing));
    expect(e.kind).toBe("input");
    expect(e.message).toBe(`cannot read ${missing}: no such file`);
    expect((await qcapError(fileSource(dir))).message).toBe(`cannot read ${dir}: not a regular file`);
  });
});

describe("sinks", () => {
  test("memorySink", async () => {
    const s = memorySink();
    await s.write(utf8("ab"));
    expect(() => s.bytes()).toThrow(/before close/);
    await s.write(new Uint8Array(100_000));
    await s.close();
    expect(s.bytesWritten).toBe(100_002);
    expect(s.bytes().length).toBe(100_002);
  });

  test("fileSink writes a temporary file and renames it into place on close", async () => {
    const sub = join(dir, "out1");
    mkdirSync(sub);
    const path = join(sub, "capsule.qcap");
    const s = await fileSink(path);
    expect(s.tempPath).toMatch(/\/\.capsule\.qcap\.[0-9a-f]{12}\.tmp$/);
    await s.write(utf8("hello "));
    await s.write(new Uint8Array(3 * 1024 * 1024).fill(0x61));
    await s.write(utf8(" end"));
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(sub)).toEqual([s.tempPath.split("/").pop()]);
    expect(statSync(s.tempPath).mode & 0o777).toBe(0o644 & ~process.umask());
    await s.close();
    expect(readdirSync(sub)).toEqual(["capsule.qcap"]);
    const got = readFileSync(path);
    expect(got.length).toBe(6 + 3 * 1024 * 1024 + 4);
    expect(s.bytesWritten).toBe(got.length);
    expect(got.subarray(0, 7).toString()).toBe("hello a");
    expect(got.subarray(-5).toString()).toBe("a end");
  });

  test("fileSink abort removes the temporary file", async () => {
    const sub = join(dir, "out2");
    mkdirSync(sub);
    const s = await fileSink(join(sub, "x.qcap"));
    await s.write(new Uint8Array(5 * 1024 * 1024));
    await s.abort();
    await s.abort();
    expect(readdirSync(sub)).toEqual([]);
    await expect(s.write(utf8("x"))).rejects.toThrow(/aborted/);
  });

  test("fileSink errors are input errors", async () => {
    const e = await qcapError(fileSink(join(dir, "no", "such", "dir.qcap")));
    expect(e.kind).toBe("input");
    expect(e.message).toBe(`cannot write ${join(dir, "no", "such", "dir.qcap")}: no such file`);
  });

  test("fileSink reports a failed background write and cleans up on abort", async () => {
    const probe = await open(join(dir, "probe2"), "w");
    const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
    await probe.close();
    const original = proto.write;
    proto.write = () =>
      Promise.reject(Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" }));
    const sub = join(dir, "out3");
    mkdirSync(sub);
    const path = join(sub, "full.qcap");
    try {
      const s = await fileSink(path);
      const small = new Uint8Array(100_000);
      let failure: unknown;
      try {
        for (let i = 0; i < 40; i++) await s.write(small);
        await s.close();
      } catch (e) {
        failure = e;
      }
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toBe(`cannot write ${path}: no space left on device`);
      await s.abort();
      expect(readdirSync(sub)).toEqual([]);
    } finally {
      proto.write = original;
    }
  });

  test("fileSink gathers small writes and passes large chunks through uncopied", async () => {
    // Count the writes reaching the file handle.
    const probe = await open(join(dir, "probe"), "w");
    const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
    await probe.close();
    const original = proto.write;
    const seen: unknown[] = [];
    proto.write = function (this: unknown, ...args: unknown[]) {
      seen.push(args[0]);
      return original.apply(this, args);
    };
    try {
      const w = new ZipWriter(await fileSink(join(dir, "many.zip")));
      const data = new Uint8Array(4096).fill(1);
      for (let i = 0; i < 20_000; i++) await w.addEntry(`payload/f${i}`, 0o644, data);
      const large = new Uint8Array(2 * 1024 * 1024);
      await w.beginEntry("payload/large", 0o644);
      await w.write(large);
      await w.endEntry();
      const { size } = await w.finish();
      console.log(
        `fileSink: 20,000 entries of 4 KiB + one of 2 MiB (${size} bytes) in ${seen.length} writes`,
      );
      expect(seen.length).toBeLessThan(size / (1024 * 1024) + 10);
      expect(seen.includes(large)).toBe(true);
    } finally {
      proto.write = original;
    }
  });
});

test("bytesSource counts reads and returns copies", async () => {
  const bytes = utf8("abcdef");
  const src = bytesSource(bytes, "mem");
  const r = await src.read(1, 3);
  r[0] = 0;
  expect(bytes[1]).toBe(0x62);
  expect(src.requests).toBe(1);
  expect(src.bytesRead).toBe(3);
  expect((await qcapError(src.read(4, 3))).message).toMatch(/^truncated or not a capsule: mem has 6 bytes/);
});

test("blobSource reads a Blob (as browsers get from a File input)", async () => {
  const src = blobSource(new Blob([new Uint8Array(archive)]), "capsule.qcap");
  expect(src.size).toBe(archive.length);
  const cd = await readCentralDirectory(src);
  expectSameBytes(await readEntryData(src, cd.entries[1] as never), utf8("small"));
  expect((await qcapError(src.read(archive.length, 1))).kind).toBe("format");
});
