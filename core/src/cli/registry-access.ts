/**
 * What `publish`, `fetch` and `ls` share: an S3 client from the SDK's default credential chain (the
 * standard AWS variables, profiles, SSO, instance roles), reading the index of an s3:// registry and
 * downloading an entry's artifact. Loaded only for s3:// registries: it pulls in the AWS SDK.
 */
import type { Readable } from "node:stream";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { fail } from "../errors.js";
import { INDEX_FILE, type RegistryEntry, type RegistryIndex, registryKey } from "../registry/layout.js";
import { RegistryError, registryError } from "../registry/s3-errors.js";
import { type RegistryLocation, readIndexVersion } from "../registry/s3-store.js";
import { saveBounded } from "./registry-http.js";

export interface S3Opts {
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
}

export interface S3Access {
  client: S3Client;
  endpoint: string | undefined;
  /** The region in use: the option, the environment or the profile's. */
  region: () => Promise<string>;
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
  // Unset: the SDK reads the profile's region; a self-hosted endpoint gets us-east-1 (it only signs).
  const region = o.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? "us-east-1" : undefined);
  const client = new S3Client({
    ...(region !== undefined ? { region } : {}),
    // A bucket in another AWS region is followed there instead of failing with a redirect.
    followRegionRedirects: true,
    ...(endpoint !== undefined ? { endpoint } : {}),
    forcePathStyle: o.pathStyle === true || truthy(env.QCAP_S3_FORCE_PATH_STYLE),
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 60_000 },
    maxAttempts: 3,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return { client, endpoint, region: () => client.config.region() };
}

/** Runs an S3 call of the registry at `loc`, naming its failure in one line (registryError). */
export async function s3Call<T>(loc: RegistryLocation, file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw registryError(err, `s3://${loc.bucket}/${registryKey(loc.prefix, file)}`, loc.bucket);
  }
}

/** The index of an s3:// registry (at most MAX_INDEX_BYTES); a missing one is "not a registry". */
export async function readS3Index(
  addr: { bucket: string; prefix: string },
  s3: S3Access,
): Promise<{ index: RegistryIndex; loc: RegistryLocation }> {
  const loc = { client: s3.client, bucket: addr.bucket, prefix: addr.prefix };
  const { index, etag } = await s3Call(loc, INDEX_FILE, () => readIndexVersion(loc));
  if (etag === null)
    throw new RegistryError(
      "not-a-registry",
      `s3://${addr.bucket}/${registryKey(addr.prefix, INDEX_FILE)} does not exist: not a registry (yet)`,
    );
  return { index, loc };
}

/** Downloads the artifact of `entry` into `path`, at most entry.size bytes (saveBounded). */
export async function downloadS3(
  addr: { bucket: string; prefix: string },
  entry: RegistryEntry,
  loc: RegistryLocation,
  path: string,
): Promise<{ bytes: number; sha256: string }> {
  // The index names keys; only keys inside the registry's prefix are fetched.
  if (addr.prefix && !entry.key.startsWith(`${addr.prefix}/`))
    throw new RegistryError("not-a-registry", `the index points outside s3://${addr.bucket}/${addr.prefix}/`);
  const res = await s3Call(loc, entry.key, () =>
    loc.client.send(new GetObjectCommand({ Bucket: addr.bucket, Key: entry.key })),
  );
  return saveBounded(res.Body as Readable, entry.size, `s3://${addr.bucket}/${entry.key}`, path);
}
