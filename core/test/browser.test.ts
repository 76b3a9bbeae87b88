/**
 * The browser entry (`src/index.ts`) in a real headless Chromium: the library is bundled for the
 * browser with esbuild (which fails on any `node:*` import it meets), and a page opens a sealed
 * capsule served over HTTP range requests, reads a window across a chunk boundary, verifies it all,
 * and sees a tampered copy rejected with a QcapError.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput } from "../src/capsule/pack.js";
import { toHex } from "../src/hash/hex.js";
import { bytesSource } from "../src/io/source.js";
import { encodeIdentity, generateIdentity } from "../src/keys/age.js";
import type { PageParams, PageResult } from "./browser/page.js";
import { packBytes, pseudoRandom, signingKey, text } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";
// Background services would try to reach the internet; QUIC and the sandbox are not wanted here.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const BIG = "payload/data/big.bin";
const SMALL = "payload/readme.txt";

interface Logged {
  path: string;
  range: string | undefined;
  sent: number;
}

/** Serves fixed files; the capsules only by single or suffix range, logging every request. */
function serve(files: Map<string, { body: Uint8Array; type: string }>, log: Logged[]): Promise<Server> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const file = files.get(path);
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const range = req.headers.range;
    const size = file.body.length;
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range !== undefined) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (!m || (m[1] === "" && m[2] === "")) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
        return;
      }
      if (m[1] === "") start = Math.max(0, size - Number(m[2]));
      else {
        start = Number(m[1]);
        end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
      }
      if (start > end || start >= size) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
        return;
      }
      status = 206;
    }
    const body = file.body.subarray(start, end + 1);
    if (path.endsWith(".qcap")) log.push({ path, range, sent: body.length });
    res.writeHead(status, {
      "Content-Type": file.type,
      "Content-Length": body.length,
      "Accept-Ranges": "bytes",
      "Cache-Control": "no-store",
      ...(status === 206 ? { "Content-Range": `bytes ${start}-${end}/${size}` } : {}),
    });
    res.end(body);
  };
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

/** The page script bundled for browsers; esbuild refuses `node:*` imports on this platform. */
async function bundlePage(): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [join(import.meta.dirname, "browser", "page.ts")],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const external = Object.values(result.metafile.inputs).flatMap((i) =>
    i.imports.filter((imp) => imp.external).map((imp) => imp.path),
  );
  expect(external).toEqual([]);
  return (result.outputFiles[0] ?? expect.fail("no bundle")).contents;
}

const inCI = process.env.CI === "true";

describe.skipIf(!inCI && !existsSync(CHROMIUM))("the browser entry in headless Chromium", () => {
  const big = pseudoRandom(300 * 1024 + 17, 11);
  const small = text("hello from a browser\n");
  const id = generateIdentity();
  const issuer = signingKey(3);
  const log: Logged[] = [];
  let capsule: Uint8Array;
  let server: Server;
  let context: BrowserContext;
  let profile: string;
  let base: string;

  beforeAll(async () => {
    capsule = await packBytes([bytesInput(SMALL, small), bytesInput(BIG, big)], {
      signingKey: issuer,
      recipients: [id.publicKey],
    });
    // One byte flipped in the middle of the large entry's stored data.
    const opened = await Capsule.open(bytesSource(capsule));
    const placed = (await opened.entry(BIG)).placed;
    const tampered = capsule.slice();
    const at = placed.dataOffset + 150_000;
    tampered[at] = (tampered[at] as number) ^ 0x01;

    const page = text('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
    const files = new Map([
      ["/", { body: page, type: "text/html; charset=utf-8" }],
      ["/page.js", { body: await bundlePage(), type: "text/javascript" }],
      ["/capsule.qcap", { body: capsule, type: "application/octet-stream" }],
      ["/tampered.qcap", { body: tampered, type: "application/octet-stream" }],
    ]);
    server = await serve(files, log);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), "qcap-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  });

  afterAll(async () => {
    await context?.close();
    await new Promise((r) => server?.close(r));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("opens, unlocks, range-reads and verifies a sealed capsule over HTTP, and rejects a tampered one", async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => "qcapBrowserTest" in globalThis);
    expect(errors).toEqual([]);

    const offset = 65536 - 1000;
    const params: PageParams = {
      url: `${base}/capsule.qcap`,
      tamperedUrl: `${base}/tampered.qcap`,
      issuerHex: toHex(issuer.publicKey),
      identity: encodeIdentity(id.secret),
      bigName: BIG,
      smallName: SMALL,
      offset,
      length: 5000,
    };
    const r = await page.evaluate(
      (p) =>
        (globalThis as unknown as { qcapBrowserTest(p: PageParams): Promise<PageResult> }).qcapBrowserTest(p),
      params,
    );

    expect(Buffer.from(r.window, "base64")).toEqual(Buffer.from(big.subarray(offset, offset + 5000)));
    expect(Buffer.from(r.small, "base64")).toEqual(Buffer.from(small));

    // Every capsule request was a range request, the first a suffix range for the tail.
    const clean = log.filter((l) => l.path === "/capsule.qcap");
    expect(clean.length).toBeGreaterThan(0);
    expect(log.every((l) => l.range !== undefined)).toBe(true);
    expect(clean[0]?.range).toBe("bytes=-65536");
    // Opening and the range read: the source's counters match the server's, and stay under the file.
    const first = r.requestsAfterOpen + r.rangeReadRequests;
    const served = clean.slice(0, first).reduce((n, l) => n + l.sent, 0);
    expect(served).toBe(r.bytesAfterOpen + r.rangeReadBytes);
    // The window spans chunks 0 and 1: one request for the entry's local header and those two stored
    // chunks (its chunk tree entry is in the tail).
    expect(r.rangeReadRequests).toBe(1);
    expect(r.rangeReadBytes).toBe(50 + text(BIG).length + 2 * 65552);
    expect(served).toBeLessThan(capsule.length);

    expect(r.tampered).not.toBeNull();
    expect(r.tampered?.isQcapError).toBe(true);
    expect(r.tampered?.kind).toBe("integrity");

    // No native engine can reach a browser: WebAssembly BLAKE3 and CRC-32, noble's XChaCha20-Poly1305.
    expect(r.engines).toEqual({ blake3: "wasm", crc32: "wasm", crc32WasmLoaded: true, stream: "noble" });
    await page.close();
  });
});
