/**
 * The registry kept in a destination prefix, as static objects that any S3, MinIO or CDN serves:
 * `index.json` (one entry per published capsule), `index.html` (the same for people) and, beside them,
 * the signed `revocations.json`. Entries are added only after their artifact upload completed.
 * Updates are read-modify-write of the capsule's own entry, serialised per prefix in this process
 * (only the elected leader writes).
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";

export interface RegistryEntry {
  namespace: string;
  name: string;
  revision: string;
  root: string;
  size: number;
  digest: string;
  url: string;
  key: string;
  issuer: string;
  sealed: boolean;
  updated: string;
  /** The artifact this one replaced, kept until the next revision for readers of the previous index. */
  previousKey?: string;
}

export interface RegistryIndex {
  kind: "qcap-registry";
  version: 1;
  updated: string;
  capsules: RegistryEntry[];
}

export interface RegistryLocation {
  client: S3Client;
  bucket: string;
  prefix: string;
}

export const registryKey = (prefix: string, file: string) => (prefix ? `${prefix}/${file}` : file);

const locks = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier call for the same key has settled. */
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

async function bodyText(body: unknown): Promise<string> {
  const b = body as { transformToString?: () => Promise<string> };
  return b.transformToString ? b.transformToString() : "";
}

export async function readIndex(loc: RegistryLocation): Promise<RegistryIndex> {
  try {
    const res = await loc.client.send(
      new GetObjectCommand({ Bucket: loc.bucket, Key: registryKey(loc.prefix, "index.json") }),
    );
    const json = JSON.parse(await bodyText(res.Body)) as RegistryIndex;
    if (json.kind !== "qcap-registry" || !Array.isArray(json.capsules))
      throw new Error("not a registry index");
    return json;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === "NoSuchKey" || (e.$metadata?.httpStatusCode === 404 && e.name !== "NoSuchBucket")) {
      return { kind: "qcap-registry", version: 1, updated: new Date().toISOString(), capsules: [] };
    }
    throw err;
  }
}

const esc = (s: string | number) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderHtml(index: RegistryIndex, title = "Q-Cap capsules"): string {
  const rows = index.capsules
    .map(
      (c) => `      <tr>
        <td>${esc(c.namespace)}/${esc(c.name)}</td>
        <td><a href="${esc(c.url)}">download</a></td>
        <td>${esc(c.size)}</td>
        <td><code>${esc(c.root)}</code></td>
        <td><code>${esc(c.revision.slice(0, 19))}</code></td>
        <td>${c.sealed ? "sealed" : "signed"}</td>
        <td>${esc(c.updated)}</td>
      </tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${esc(title)}</title>
  <style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}code{font-size:.85em}</style>
</head>
<body>
  <h1>${esc(title)}</h1>
  <p>Each capsule is one signed <code>.qcap</code> file. Verify and open it with
  <code>qcap verify URL --trust ISSUER</code> and <code>qcap open URL -o DIR -i IDENTITY</code>.
  Machine-readable: <a href="index.json">index.json</a>; revoked grants: <a href="revocations.json">revocations.json</a>.</p>
  <table>
    <thead><tr><th>capsule</th><th>artifact</th><th>bytes</th><th>Merkle root</th><th>revision</th><th>access</th><th>updated</th></tr></thead>
    <tbody>
${rows}
    </tbody>
  </table>
</body>
</html>
`;
}

async function writeIndex(loc: RegistryLocation, index: RegistryIndex) {
  index.capsules.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  index.updated = new Date().toISOString();
  await loc.client.send(
    new PutObjectCommand({
      Bucket: loc.bucket,
      Key: registryKey(loc.prefix, "index.json"),
      Body: `${JSON.stringify(index, null, 2)}\n`,
      ContentType: "application/json",
      CacheControl: "no-cache",
    }),
  );
  await loc.client.send(
    new PutObjectCommand({
      Bucket: loc.bucket,
      Key: registryKey(loc.prefix, "index.html"),
      Body: renderHtml(index),
      ContentType: "text/html; charset=utf-8",
      CacheControl: "no-cache",
    }),
  );
}

const lockKey = (loc: RegistryLocation) => `${loc.bucket}/${loc.prefix}`;

/** Sets (or with `entry` null, removes) the entry of namespace/name. Returns the entry it replaced. */
export function updateEntry(
  loc: RegistryLocation,
  namespace: string,
  name: string,
  entry: RegistryEntry | null,
): Promise<RegistryEntry | undefined> {
  return withLock(lockKey(loc), async () => {
    const index = await readIndex(loc);
    const previous = index.capsules.find((c) => c.namespace === namespace && c.name === name);
    index.capsules = index.capsules.filter((c) => !(c.namespace === namespace && c.name === name));
    if (entry) index.capsules.push(entry);
    await writeIndex(loc, index);
    return previous;
  });
}
