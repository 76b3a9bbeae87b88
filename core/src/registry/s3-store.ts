/**
 * index.json and index.html in an S3 prefix, updated by compare-and-swap: each update reads the index
 * and its ETag, changes one entry and writes it back with `If-Match: <etag>` (`If-None-Match: *` when
 * there is no index yet). A 412 or 409 means another writer got there first: re-read, re-apply, retry
 * with jittered exponential back-off, a bounded number of times. So any number of writers (operator
 * replicas, Actions, CLIs) can share one prefix without losing each other's entries.
 *
 * A server that ignores those headers would silently lose entries, so before its first update of a
 * bucket the store checks, on a probe object, that the server refuses a write whose precondition fails.
 * S3 failures are thrown as the SDK reports them (callers name them: registryError, the operator's
 * conditions); what is the registry's own (not a registry, conflicts) is a RegistryError.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import {
  emptyIndex,
  HTML_FILE,
  INDEX_FILE,
  MAX_INDEX_BYTES,
  parseIndex,
  type RegistryEntry,
  type RegistryIndex,
  registryKey,
  renderHtml,
  serializeIndex,
  withEntry,
} from "./layout.js";
import { isNotFound, isWriteConflict, RegistryError } from "./s3-errors.js";

export interface RegistryLocation {
  client: S3Client;
  bucket: string;
  prefix: string;
}

export interface UpdateOptions {
  /** Writes of index.json tried before giving up (default 16). */
  maxAttempts?: number;
  /** First back-off delay; doubled per conflict up to `maxDelayMs` and jittered (default 50 ms). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * What to do on a server that ignores conditional writes: "fail" (default) refuses to update;
   * "verify" writes anyway and reads the index back until it holds the change, which narrows but
   * cannot close the window in which a concurrent writer's entry is lost.
   */
  unconditional?: "fail" | "verify";
  /** Whether the server honours conditional writes, when already known (else probed once per bucket). */
  conditionalWrites?: boolean;
}

const s3Url = (loc: RegistryLocation, file: string) => `s3://${loc.bucket}/${registryKey(loc.prefix, file)}`;

const locks = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier call for the same key has settled (in this process). */
export function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => undefined);
  locks.set(key, tail);
  void tail.then(() => {
    if (locks.get(key) === tail) locks.delete(key);
  });
  return next;
}

export const lockKey = (loc: RegistryLocation) => `${loc.bucket}/${loc.prefix}`;

async function boundedBytes(body: unknown, limit: number, where: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    n += chunk.length;
    if (n > limit) {
      (body as { destroy?: () => void }).destroy?.();
      throw new RegistryError("not-a-registry", `${where} is larger than ${limit >> 20} MiB`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const MD5_ETAG = /^"?([0-9a-f]{32})"?$/;
/** Clients whose server's ETags turned out not to be MD5s of the body (encrypted buckets, say). */
const etagsNotMd5 = new WeakSet<S3Client>();

/**
 * An object and its ETag, read so that the two belong together. A server may publish the new ETag a
 * moment before the new body (versitygw does, with its metadata in a sidecar folder): a write based
 * on the old body with the new ETag would pass `If-Match` and drop the other writer's change. Single
 * PUTs have the MD5 of the body as ETag on S3, MinIO and versitygw, so a body that does not match its
 * ETag is read again; one that never matches means this server's ETags are something else.
 */
export async function getConsistent(
  client: S3Client,
  bucket: string,
  key: string,
  limit: number,
): Promise<{ bytes: Buffer; etag: string | null } | null> {
  const where = `s3://${bucket}/${key}`;
  for (let attempt = 0; ; attempt++) {
    let res: GetObjectCommandOutput;
    try {
      res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    if ((res.ContentLength ?? 0) > limit) {
      (res.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw new RegistryError("not-a-registry", `${where} is larger than ${limit >> 20} MiB`);
    }
    let bytes: Buffer;
    try {
      bytes = await boundedBytes(res.Body, limit, where);
    } catch (err) {
      // The SDK checks the body against the server's checksum header; mid-overwrite the two may
      // belong to different versions (versitygw), which is the same race as the ETag one below.
      if (!isChecksumMismatch(err) || attempt === 5) throw err;
      await sleep(20 * 2 ** attempt);
      continue;
    }
    const etag = res.ETag ?? null;
    const md5 = MD5_ETAG.exec(etag ?? "")?.[1];
    if (md5 === undefined || etagsNotMd5.has(client)) return { bytes, etag };
    if (createHash("md5").update(bytes).digest("hex") === md5) return { bytes, etag };
    if (attempt === 5) {
      etagsNotMd5.add(client);
      return { bytes, etag };
    }
    await sleep(20 * 2 ** attempt);
  }
}

const isChecksumMismatch = (err: unknown) =>
  err instanceof Error && err.message.startsWith("Checksum mismatch");

/** index.json and its ETag; an empty index and a null ETag when there is none yet. */
export async function readIndexVersion(
  loc: RegistryLocation,
): Promise<{ index: RegistryIndex; etag: string | null }> {
  const where = s3Url(loc, INDEX_FILE);
  const got = await getConsistent(
    loc.client,
    loc.bucket,
    registryKey(loc.prefix, INDEX_FILE),
    MAX_INDEX_BYTES,
  );
  if (got === null) return { index: emptyIndex(), etag: null };
  try {
    return { index: parseIndex(got.bytes.toString("utf8"), where), etag: got.etag };
  } catch (e) {
    throw new RegistryError("not-a-registry", (e as Error).message);
  }
}

export async function readIndex(loc: RegistryLocation): Promise<RegistryIndex> {
  return (await readIndexVersion(loc)).index;
}

/** Whether the server refuses writes whose precondition fails, per client and bucket. */
const probes = new WeakMap<S3Client, Map<string, Promise<boolean>>>();

/**
 * True when the server refuses a PUT with `If-None-Match: *` on an existing object and one with a
 * wrong `If-Match`, as S3 does. Tried on a probe object of its own, removed afterwards.
 */
export function honoursConditionalWrites(loc: RegistryLocation): Promise<boolean> {
  const perBucket = probes.get(loc.client) ?? new Map<string, Promise<boolean>>();
  probes.set(loc.client, perBucket);
  let probe = perBucket.get(loc.bucket);
  if (!probe) {
    probe = runProbe(loc);
    perBucket.set(loc.bucket, probe);
    probe.catch(() => perBucket.delete(loc.bucket));
  }
  return probe;
}

async function runProbe(loc: RegistryLocation): Promise<boolean> {
  const Key = registryKey(loc.prefix, `.qcap-write-probe-${randomBytes(8).toString("hex")}`);
  const put = (extra: { IfNoneMatch?: string; IfMatch?: string }) =>
    loc.client.send(new PutObjectCommand({ Bucket: loc.bucket, Key, Body: "probe\n", ...extra }));
  const refused = async (extra: { IfNoneMatch?: string; IfMatch?: string }) => {
    try {
      await put(extra);
      return false;
    } catch (err) {
      if (isWriteConflict(err)) return true;
      // 400/501: the server rejects the header itself, which is no compare-and-swap either.
      if (
        [400, 501].includes(
          (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0,
        )
      )
        return false;
      throw err;
    }
  };
  await put({});
  try {
    return (await refused({ IfNoneMatch: "*" })) && (await refused({ IfMatch: `"${"0".repeat(32)}"` }));
  } finally {
    await loc.client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key })).catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface UpdateResult {
  previous: RegistryEntry | undefined;
  /** The index as written. */
  index: RegistryIndex;
  /** Writes of index.json it took (1 without contention). */
  attempts: number;
}

/**
 * Sets (or with null, removes) the entry namespace/name; `entry` may be a function of the entry it
 * replaces (called again on every retry). Then rewrites index.html from the newest index.
 */
export function updateIndex(
  loc: RegistryLocation,
  namespace: string,
  name: string,
  entry: RegistryEntry | null | ((previous: RegistryEntry | undefined) => RegistryEntry | null),
  o: UpdateOptions = {},
): Promise<UpdateResult> {
  return withLock(lockKey(loc), async () => {
    const maxAttempts = o.maxAttempts ?? 16;
    const base = o.baseDelayMs ?? 50;
    const cap = o.maxDelayMs ?? 2_000;
    const conditional = o.conditionalWrites ?? (await honoursConditionalWrites(loc));
    if (!conditional && (o.unconditional ?? "fail") === "fail")
      throw new RegistryError(
        "unconditional-server",
        `the S3 server of bucket "${loc.bucket}" ignores conditional writes (If-Match, If-None-Match): updating ${INDEX_FILE} there could lose concurrent entries`,
      );
    const key = registryKey(loc.prefix, INDEX_FILE);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const { index, etag } = await readIndexVersion(loc);
      const current = index.capsules.find((c) => c.namespace === namespace && c.name === name);
      const next = typeof entry === "function" ? entry(current) : entry;
      const { index: updated, previous } = withEntry(index, namespace, name, next);
      const body = serializeIndex(updated);
      let written: string | undefined;
      try {
        const res = await loc.client.send(
          new PutObjectCommand({
            Bucket: loc.bucket,
            Key: key,
            Body: body,
            ContentType: "application/json",
            CacheControl: "no-cache",
            ...(etag === null ? { IfNoneMatch: "*" } : { IfMatch: etag }),
          }),
        );
        written = res.ETag;
      } catch (err) {
        if (!isWriteConflict(err) && !(etag !== null && isNotFound(err))) throw err;
        // Another writer changed (or removed) the index since we read it.
        if (attempt < maxAttempts)
          await sleep(Math.min(cap, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
        continue;
      }
      if (!conditional && !(await holds(loc, namespace, name, next))) continue;
      await refreshHtml(loc, written ?? null, updated);
      return { previous, index: updated, attempts: attempt };
    }
    throw new RegistryError(
      "conflict",
      `${s3Url(loc, INDEX_FILE)} kept changing: gave up after ${maxAttempts} conflicting writes; try again`,
    );
  });
}

/** The entry of namespace/name, as updateIndex does; returns the entry it replaced. */
export async function updateEntry(
  loc: RegistryLocation,
  namespace: string,
  name: string,
  entry: RegistryEntry | null,
  o?: UpdateOptions,
): Promise<RegistryEntry | undefined> {
  return (await updateIndex(loc, namespace, name, entry, o)).previous;
}

async function holds(loc: RegistryLocation, namespace: string, name: string, entry: RegistryEntry | null) {
  const { index } = await readIndexVersion(loc);
  const found = index.capsules.find((c) => c.namespace === namespace && c.name === name);
  return entry === null ? found === undefined : found?.key === entry.key && found.root === entry.root;
}

/**
 * Writes index.html for the index we wrote, then checks that index.json is still that one; if a later
 * writer replaced it, renders again. Whoever writes last also checks last, so the page converges on
 * the newest index even when two writers' pages cross.
 */
async function refreshHtml(loc: RegistryLocation, etag: string | null, index: RegistryIndex) {
  let shown = index;
  let shownTag = etag;
  for (let round = 0; round < 5; round++) {
    await loc.client.send(
      new PutObjectCommand({
        Bucket: loc.bucket,
        Key: registryKey(loc.prefix, HTML_FILE),
        Body: renderHtml(shown),
        ContentType: "text/html; charset=utf-8",
        CacheControl: "no-cache",
      }),
    );
    if (shownTag === null) return;
    const head = await loc.client
      .send(new HeadObjectCommand({ Bucket: loc.bucket, Key: registryKey(loc.prefix, INDEX_FILE) }))
      .catch(() => null);
    if (!head?.ETag || head.ETag === shownTag) return;
    const latest = await readIndexVersion(loc);
    shown = latest.index;
    shownTag = latest.etag;
  }
}
