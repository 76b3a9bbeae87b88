/**
 * Registries served over http(s) (a CDN or a public bucket in front of the prefix): reading the
 * index and downloading artifacts, with no AWS SDK. Also the bounded, hashing write of a download
 * to a file that the S3 side uses.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { Readable as NodeReadable, type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fail } from "../errors.js";
import { fetchLimited } from "../io/limited-read-node.js";
import {
  INDEX_FILE,
  MAX_INDEX_BYTES,
  parseIndex,
  type RegistryEntry,
  type RegistryIndex,
} from "../registry/layout.js";
import { RegistryError } from "../registry/s3-errors.js";

export async function readHttpIndex(base: string): Promise<RegistryIndex> {
  const url = `${base}/${INDEX_FILE}`;
  let bytes: Uint8Array;
  try {
    bytes = await fetchLimited(url, "the registry index", MAX_INDEX_BYTES, 60_000);
  } catch (e) {
    if (/HTTP 404/.test((e as Error).message))
      throw new RegistryError("not-a-registry", `no ${url}: not a registry`);
    throw e;
  }
  try {
    return parseIndex(new TextDecoder().decode(bytes), url);
  } catch (e) {
    throw new RegistryError("not-a-registry", (e as Error).message);
  }
}

/**
 * Writes `body` to `path` (created exclusively), failing once more than `limit` bytes arrived.
 * Returns the byte count and sha256 of what was written.
 */
export async function saveBounded(
  body: Readable,
  limit: number,
  what: string,
  path: string,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > limit) return done(new RegistryError("s3", `${what} is larger than the registry says`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(body, meter, createWriteStream(path, { flags: "wx", mode: 0o644 }));
  return { bytes, sha256: hash.digest("hex") };
}

/** Downloads the artifact of `entry` from its URL (resolved against the registry's base). */
export async function downloadHttp(
  base: string,
  entry: RegistryEntry,
  path: string,
): Promise<{ bytes: number; sha256: string }> {
  let url: URL;
  try {
    url = new URL(entry.url, `${base}/`);
  } catch {
    return fail("input", `the registry entry has an invalid URL: ${entry.url}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    fail("input", `the registry entry's URL is not http(s): ${entry.url}`);
  const what = url.href.replace(/[?#].*$/, "");
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (e) {
    return fail(
      "input",
      `cannot fetch ${what}: ${((e as Error).cause as Error)?.message ?? (e as Error).message}`,
    );
  }
  if (!res.ok || !res.body) fail("input", `cannot fetch ${what}: HTTP ${res.status}`);
  const body = NodeReadable.fromWeb(res.body as import("node:stream/web").ReadableStream);
  return saveBounded(body, entry.size, what, path);
}
