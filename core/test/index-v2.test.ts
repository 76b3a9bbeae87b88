/**
 * The paged entry index of version 2: capsules whose signature is valid but whose index lies are
 * refused, and one entry is read with a bounded number of small range requests.
 */
import { execFile } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput } from "../src/capsule/pack.js";
import { plainChunks } from "../src/capsule/read.js";
import { QcapError } from "../src/errors.js";
import { toHex } from "../src/hash/hex.js";
import { bytesSource, httpSource, type RangeSource } from "../src/io/source.js";
import { cliPath, packBytes, signingKey, text } from "./helpers.js";
import { assemble, type CraftEntry, type CraftHooks, smallEntries } from "./v2-craft.js";

/** Runs a process without blocking this one's event loop (the test's HTTP server answers it). */
const run = (cmd: string, args: string[]) =>
  new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(cmd, args, (err, stdout, stderr) =>
      err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr }),
    ),
  );

async function refusal(bytes: Uint8Array, read?: string): Promise<QcapError> {
  const err = await Capsule.open(bytesSource(bytes))
    .then(async (c) => {
      if (read) for await (const _ of plainChunks(c, read));
      else await c.verifyAll();
    })
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(QcapError);
  return err as QcapError;
}

async function readAll(c: Capsule, name: string): Promise<string> {
  let s = "";
  for await (const b of plainChunks(c, name)) s += new TextDecoder().decode(b);
  return s;
}

const few = smallEntries(3);
const many = smallEntries(1030);
/** A manifest hook that sets one member. */
const set =
  (key: string, value: unknown) =>
  (m: Record<string, unknown>): void => {
    m[key] = value;
  };
const build = (entries: CraftEntry[], hooks: CraftHooks = {}) => assemble(entries, hooks);

describe("crafted version 2 capsules", () => {
  it("accept the crafted baselines (so each refusal below is about its one change)", async () => {
    for (const entries of [few, many]) {
      const c = await Capsule.open(bytesSource(build(entries)));
      await c.verifyAll();
      expect(await readAll(c, "payload/f0002")).toBe("file 2\n");
    }
    const c = await Capsule.open(bytesSource(build(many)));
    expect(await readAll(c, "payload/f1029")).toBe("file 1029\n");
  });

  it("refuses a root page that does not match the signed root", async () => {
    const bytes = build(few, { manifest: set("root", "00".repeat(32)) });
    expect((await refusal(bytes)).message).toMatch(/root page does not match the signed root/);
  });

  it("refuses a page whose hash does not match its parent's record", async () => {
    const bytes = build(many, {
      interior: (r, level, position) => {
        if (level === 0 && position === 2) r.hash = new Uint8Array(32);
      },
    });
    expect((await refusal(bytes, "payload/f1029")).message).toMatch(/does not match its parent's hash/);
    expect((await refusal(bytes)).message).toMatch(/does not match its parent's hash/);
    // The other page still reads: a lookup touches only the pages on its path.
    const c = await Capsule.open(bytesSource(bytes));
    expect(await readAll(c, "payload/f0001")).toBe("file 1\n");
  });

  it("refuses a page that lies about an entry's offset", async () => {
    // The record points at the next entry: its local header names another file.
    const bytes = build(few, {
      leaf: (r, i) => {
        if (i === 0) r.offset += 50 + "payload/f0000".length + 7 + 24;
      },
    });
    expect((await refusal(bytes, "payload/f0000")).message).toMatch(/local header does not match/);
    expect((await refusal(bytes)).kind).toBe("integrity");
  });

  it("refuses a page that points past the index", async () => {
    const bytes = build(few, {
      leaf: (r, i) => {
        if (i === 2) r.offset = 2 ** 40;
      },
    });
    expect((await refusal(bytes, "payload/f0002")).message).toMatch(/beyond the root page/);
  });

  it("refuses entries out of order within a page", async () => {
    const swapped = [few[1], few[0], few[2]] as CraftEntry[];
    expect((await refusal(build(swapped))).message).toMatch(/not strictly increasing/);
  });

  it("refuses entries out of order across pages", async () => {
    const swapped = [...many];
    [swapped[1023], swapped[1024]] = [swapped[1024] as CraftEntry, swapped[1023] as CraftEntry];
    const bytes = build(swapped);
    expect((await refusal(bytes, "payload/f1022")).message).toMatch(/reach into the next page/);
    expect((await refusal(bytes)).message).toMatch(/reach into the next page|not in order/);
  });

  it("refuses an index that omits an entry, whose bytes are still in the archive", async () => {
    const bytes = build(few, { omitRecord: (i) => i === 1 });
    expect((await refusal(bytes)).message).toMatch(/2 records, expected 3/);
    // The manifest made to agree: the stray entry breaks the layout.
    const agreed = build(few, { omitRecord: (i) => i === 1, manifest: set("entries", 2) });
    const err = await refusal(agreed);
    expect(err.kind).toBe("integrity");
    expect(err.message).toMatch(/payload\/f0002 is at offset/);
  });

  it("refuses an index that duplicates an entry", async () => {
    const dup = [few[0], few[1], few[1], few[2]] as CraftEntry[];
    expect((await refusal(build(dup))).message).toMatch(/not strictly increasing/);
  });

  it("refuses wrong counts and levels", async () => {
    expect((await refusal(build(few, { manifest: set("entries", 4) }))).message).toMatch(
      /3 records, expected 4/,
    );
    expect((await refusal(build(many, { manifest: set("entries", 1024) }))).message).toMatch(
      /level 1, expected 0/,
    );
    const relevel = build(few, {
      page: (b, _level, _pos, root) => {
        if (root) b[0] = 1;
        return b;
      },
    });
    expect((await refusal(relevel)).message).toMatch(/level 1, expected 0/);
  });

  it("refuses a case collision and a file/folder clash that only a signed index could hold", async () => {
    const named = (names: string[]) =>
      names.map((name, i) => ({
        ...(smallEntries(1)[0] as CraftEntry),
        record: { ...(smallEntries(1)[0] as CraftEntry).record, name },
        i,
      }));
    const collide = named(["payload/A", "payload/a"]);
    expect((await refusal(build(collide))).message).toMatch(/collide after case folding/);
    const clash = named(["payload/A", "payload/a/b"]);
    expect((await refusal(build(clash))).message).toMatch(/both a file and a directory/);
  });

  it("refuses a truncated tail and a manifest over the limit before reading it", async () => {
    const good = build(few);
    for (const cut of [1, 22, 98, 200, 369]) {
      expect(await refusal(good.subarray(0, good.length - cut))).toBeInstanceOf(QcapError);
    }
    const big = build(few, { manifest: set("note", "x".repeat(1024 * 1024)) });
    let read = 0;
    const src = bytesSource(big);
    const counting: RangeSource = {
      ...src,
      size: src.size,
      read: (o, n) => {
        read += n;
        return src.read(o, n);
      },
      close: () => src.close(),
    };
    await expect(Capsule.open(counting)).rejects.toThrow(/larger than 1 MiB/);
    expect(read).toBeLessThan(4096);
  });

  for (const name of [
    "payload/../evil",
    "/etc/passwd",
    "payload\\..\\evil",
    "payload/a\u0000b",
    "payload//x",
    "index/x",
  ]) {
    it(`refuses the name ${JSON.stringify(name)} even in a signed index`, async () => {
      const one = smallEntries(1)[0] as CraftEntry;
      const bytes = build([{ ...one, record: { ...one.record, name } }]);
      expect((await refusal(bytes)).kind).toBe("format");
    });
  }

  it("refuses a symlink or other mode in a signed record", async () => {
    for (const mode of [0o120777, 0o777, 0o600]) {
      const err = await refusal(
        build(smallEntries(1), {
          leaf: (r) => {
            r.mode = mode & 0xffff;
          },
        }),
      );
      expect(err.kind).toBe("format");
    }
  });

  it("refuses a wrong signature, an unknown manifest member and a manifest not in canonical form", async () => {
    const bytes = build(few);
    // The manifest names key 1 as its issuer; key 2 signs it.
    const forged = assemble(few, { manifest: set("issuer", toHex(signingKey(2).publicKey)) });
    expect((await refusal(forged)).message).toMatch(/signature is invalid/);
    expect((await refusal(build(few, { manifest: set("note", "hi") }))).message).toMatch(
      /unknown member "note"/,
    );
    expect((await refusal(build(few, { manifest: set("chunkSize", 65536) }))).message).toMatch(
      /unknown member "chunkSize"/,
    );
    await Capsule.open(bytesSource(bytes));
  });

  it("refuses a version it does not know, naming it", async () => {
    const bytes = build(few, { manifest: set("qcap", 3) });
    expect((await refusal(bytes)).message).toBe("format version 3 is not supported by this release");
  });
});

describe("range requests", () => {
  let server: Server;
  let base = "";
  const files = new Map<string, Uint8Array>();
  const log: { path: string; bytes: number }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const body = files.get(req.url ?? "");
      if (!body) return res.writeHead(404).end();
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
      if (!m) return res.writeHead(400).end();
      let first: number;
      let last: number;
      if (m[1] === "") {
        first = Math.max(0, body.length - Number(m[2]));
        last = body.length - 1;
      } else {
        first = Number(m[1]);
        last = Math.min(body.length - 1, Number(m[2]));
      }
      const part = body.subarray(first, last + 1);
      log.push({ path: req.url ?? "", bytes: part.length });
      res
        .writeHead(206, {
          "Content-Range": `bytes ${first}-${last}/${body.length}`,
          "Content-Length": String(part.length),
        })
        .end(part);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const inputs = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        bytesInput(`payload/f${String(i).padStart(4, "0")}`, text(`file ${i}\n`)),
      );
    files.set("/two-levels.qcap", await packBytes(inputs(3000)));
    files.set("/one-level.qcap", await packBytes(inputs(1024)));
  });
  afterAll(() => server.close());

  it("qcap cat URL PATH of an unsealed capsule reads one leaf page, not the whole index", async () => {
    log.length = 0;
    const r = await run(process.execPath, [cliPath, "cat", `${base}/two-levels.qcap`, "f2999"]);
    expect(r.stdout).toBe("file 2999\n");
    // The tail (the CLI's first request), the header group, one leaf page, the entry.
    expect(log.map((l) => l.path)).toEqual(Array(4).fill("/two-levels.qcap"));
  });

  for (const [file, requests] of [
    ["/two-levels.qcap", 4],
    ["/one-level.qcap", 3],
  ] as const) {
    it(`reads one entry of ${file} in ${requests} requests and a bounded number of bytes`, async () => {
      log.length = 0;
      const src = await httpSource(`${base}${file}`, { tail: 370 });
      const c = await Capsule.open(src);
      expect(await readAll(c, "payload/f0777")).toBe("file 777\n");
      expect(src.requests).toBe(requests);
      expect(log.length).toBe(requests);
      // The tail, the header group (root page of at most 1024 records), one leaf page, the entry.
      expect(src.bytesRead).toBeLessThan(2 * 64 * 1024);
      await src.close();
    });
  }
});
