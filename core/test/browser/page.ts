/**
 * Browser side of browser.test.ts, bundled with esbuild for the browser. It uses only the public
 * API of `src/index.ts` to open a capsule over HTTP range requests; the engine modules are imported
 * solely to report which implementations the browser ended up with.
 */

import { chunkCipherImplementation } from "../../src/crypto/stream.js";
import { blake3Implementation } from "../../src/hash/blake3.js";
import { crc32Implementation, crc32Ready } from "../../src/hash/crc32.js";
import {
  Capsule,
  httpSource,
  masterEntryKeys,
  parseIdentity,
  plainChunks,
  QcapError,
  readRange,
  tailCachedSource,
  unlockMasterKey,
} from "../../src/index.js";

export interface PageParams {
  url: string;
  tamperedUrl: string;
  issuerHex: string;
  identity: string;
  bigName: string;
  smallName: string;
  offset: number;
  length: number;
}

export interface PageResult {
  window: string;
  small: string;
  requestsAfterOpen: number;
  bytesAfterOpen: number;
  rangeReadRequests: number;
  rangeReadBytes: number;
  tampered: { isQcapError: boolean; kind: string | null; message: string } | null;
  engines: { blake3: string; crc32: string; crc32WasmLoaded: boolean; stream: string };
}

const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16));

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

async function open(url: string, issuer: Uint8Array): Promise<Capsule> {
  return Capsule.open(await tailCachedSource(await httpSource(url), 64 * 1024), { trust: [issuer] });
}

async function run(p: PageParams): Promise<PageResult> {
  const issuer = fromHex(p.issuerHex);
  const identity = parseIdentity(p.identity);

  const capsule = await open(p.url, issuer);
  const src = capsule.source;
  const keys = masterEntryKeys(capsule, await unlockMasterKey(capsule, { identities: [identity] }));
  const requestsAfterOpen = src.requests;
  const bytesAfterOpen = src.bytesRead;
  const window = await readRange(capsule, p.bigName, p.offset, p.length, keys);
  const rangeReadRequests = src.requests - requestsAfterOpen;
  const rangeReadBytes = src.bytesRead - bytesAfterOpen;
  const parts: Uint8Array[] = [];
  for await (const c of plainChunks(capsule, p.smallName, keys)) parts.push(c);
  const small = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of parts) {
    small.set(c, at);
    at += c.length;
  }
  await capsule.verifyAll();
  await src.close();

  let tampered: PageResult["tampered"] = null;
  const bad = await open(p.tamperedUrl, issuer);
  try {
    await bad.verifyAll();
  } catch (e) {
    tampered = {
      isQcapError: e instanceof QcapError,
      kind: e instanceof QcapError ? e.kind : null,
      message: e instanceof Error ? e.message : String(e),
    };
  } finally {
    await bad.source.close();
  }

  return {
    window: base64(window),
    small: base64(small),
    requestsAfterOpen,
    bytesAfterOpen,
    rangeReadRequests,
    rangeReadBytes,
    tampered,
    engines: {
      blake3: blake3Implementation,
      crc32: crc32Implementation(),
      crc32WasmLoaded: await crc32Ready(),
      stream: chunkCipherImplementation,
    },
  };
}

(globalThis as { qcapBrowserTest?: typeof run }).qcapBrowserTest = run;
