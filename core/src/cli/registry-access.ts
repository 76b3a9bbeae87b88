/**
 * What `publish`, `fetch` and `ls` share: an S3 client from the SDK's default credential chain (the
 * standard AWS variables, profiles, SSO, instance roles), reading the index of an s3:// or http(s)
 * registry, and downloading an entry's artifact to a file with its size bounded and its sha256
 * computed on the way. Loaded only by those commands: it pulls in the AWS SDK.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { fail } from "../errors.js";
import { fetchLimited } from "../io/limited-read-node.js";
import {
  INDEX_FILE,
  MAX_INDEX_BYTES,
  parseIndex,
  type RegistryEntry,
  type RegistryIndex,
  registryKey,
} from "../registry/layout.js";
import type { RegistryAddress } from "../registry/location.js";
import { RegistryError, registryError } from "../registry/s3-errors.js";
import { type RegistryLocation, readIndexVersion } from "../registry/s3-store.js";

export interface S3Opts {
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
}

export interface S3Access {
  client: S3Client;
  endpoint: string | undefined;
  region: string;
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes)$/i.test(v);

/**
 * The client for s3:// registries. Endpoint: --endpoint, else AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL;
 * path-style addressing (MinIO and most self-hosted servers) with --path-style or
 * QCAP_S3_FORCE_PATH_STYLE=true.
 */
export function s3Access(o: S3Opts, env: NodeJS.ProcessEnv = process.env): S3Access {
  // The pinned SDK supports Node 20; its notice about later releases is not the user's concern.
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const endpoint = o.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  if (endpoint !== undefined && !/^https?:\/\/[^/]/i.test(endpoint))
    fail("usage", `invalid S3 endpoint "${endpoint}": give an http(s) URL`);
  const region = o.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
  const client = new S3Client({
    region,
    ...(endpoint !== undefined ? { endpoint } : {}),
    forcePathStyle: o.pathStyle === true || truthy(env.QCAP_S3_FORCE_PATH_STYLE),
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 60_000 },
    maxAttempts: 3,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return { client, endpoint, region };
}

/** Runs an S3 call of the registry at `loc`, naming its failure in one line (registryError). */
export async function s3Call<T>(loc: RegistryLocation, file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw registryError(err, `s3://${loc.bucket}/${registryKey(loc.prefix, file)}`, loc.bucket);
  }
}

/** The index of a registry, read whole (at most MAX_INDEX_BYTES). */
export async function readRegistryIndex(
  addr: RegistryAddress,
  s3: () => S3Access,
): Promise<{ index: RegistryIndex; loc?: RegistryLocation }> {
  if (addr.kind === "s3") {
    const loc = { client: s3().client, bucket: addr.bucket, prefix: addr.prefix };
    const { index, etag } = await s3Call(loc, INDEX_FILE, () => readIndexVersion(loc));
    if (etag === null)
      throw new RegistryError(
        "not-a-registry",
        `s3://${addr.bucket}/${registryKey(addr.prefix, INDEX_FILE)} does not exist: not a registry (yet)`,
      );
    return { index, loc };
  }
  const url = `${addr.base}/${INDEX_FILE}`;
  let bytes: Uint8Array;
  try {
    bytes = await fetchLimited(url, "the registry index", MAX_INDEX_BYTES, 60_000);
  } catch (e) {
    const msg = (e as Error).message;
    if (/HTTP 404/.test(msg)) throw new RegistryError("not-a-registry", `no ${url}: not a registry`);
    throw e;
  }
  try {
    return { index: parseIndex(new TextDecoder().decode(bytes), url) };
  } catch (e) {
    throw new RegistryError("not-a-registry", (e as Error).message);
  }
}

/** Counts and hashes what passes; fails once more than `limit` bytes went by. */
function meter(limit: number, what: string) {
  const hash = createHash("sha256");
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > limit) return done(new RegistryError("s3", `${what} is larger than the registry says`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return { stream, bytes: () => bytes, sha256: () => hash.digest("hex") };
}

/**
 * Downloads the artifact of `entry` into `path` (created exclusively), at most entry.size bytes.
 * Returns the byte count and sha256 of what was written.
 */
export async function downloadEntry(
  addr: RegistryAddress,
  entry: RegistryEntry,
  loc: RegistryLocation | undefined,
  path: string,
): Promise<{ bytes: number; sha256: string }> {
  let body: Readable;
  let what: string;
  if (addr.kind === "s3" && loc) {
    // The index names keys; only keys inside the registry's prefix are fetched.
    if (addr.prefix && !entry.key.startsWith(`${addr.prefix}/`))
      throw new RegistryError(
        "not-a-registry",
        `the index points outside s3://${addr.bucket}/${addr.prefix}/`,
      );
    what = `s3://${addr.bucket}/${entry.key}`;
    const res = await s3Call(loc, entry.key, () =>
      loc.client.send(new GetObjectCommand({ Bucket: addr.bucket, Key: entry.key })),
    );
    body = res.Body as Readable;
  } else {
    let url: URL;
    try {
      url = new URL(entry.url, `${addr.kind === "http" ? addr.base : ""}/`);
    } catch {
      return fail("input", `the registry entry has an invalid URL: ${entry.url}`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:")
      fail("input", `the registry entry's URL is not http(s): ${entry.url}`);
    what = url.href.replace(/[?#].*$/, "");
    let res: Response;
    try {
      res = await fetch(url, { redirect: "follow", signal: AbortSignal.timeout(3_600_000) });
    } catch (e) {
      return fail(
        "input",
        `cannot fetch ${what}: ${((e as Error).cause as Error)?.message ?? (e as Error).message}`,
      );
    }
    if (!res.ok || !res.body) fail("input", `cannot fetch ${what}: HTTP ${res.status}`);
    body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream);
  }
  const m = meter(entry.size, what);
  await pipeline(body, m.stream, createWriteStream(path, { flags: "wx", mode: 0o644 }));
  return { bytes: m.bytes(), sha256: m.sha256() };
}
