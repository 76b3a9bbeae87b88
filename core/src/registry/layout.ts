/**
 * The registry kept in a bucket prefix, as static objects that any S3, MinIO or CDN serves:
 * `index.json` (one entry per published capsule), `index.html` (the same for people) and, beside them,
 * the signed `revocations.json`. This module is the layout only (no S3 client), so browsers and
 * plain-HTTP readers can use it too.
 */
import { fail } from "../errors.js";

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

export const INDEX_FILE = "index.json";
export const HTML_FILE = "index.html";
export const REVOCATIONS_FILE = "revocations.json";

/** index.json is read whole: a larger one is refused before it is read. */
export const MAX_INDEX_BYTES = 32 * 1024 * 1024;

export const registryKey = (prefix: string, file: string) => (prefix ? `${prefix}/${file}` : file);

export const emptyIndex = (now = new Date()): RegistryIndex => ({
  kind: "qcap-registry",
  version: 1,
  updated: now.toISOString(),
  capsules: [],
});

/** Roots and issuer keys are printable tokens (hex today); anything else in an index is refused. */
const TOKEN = /^[0-9A-Za-z:_+-]{16,200}$/;

/** True when `x` has the fields every reader relies on, with their types. */
function isEntry(x: unknown): x is RegistryEntry {
  const e = x as Record<string, unknown>;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof e.namespace === "string" &&
    typeof e.name === "string" &&
    typeof e.root === "string" &&
    typeof e.key === "string" &&
    typeof e.url === "string" &&
    typeof e.issuer === "string" &&
    typeof e.digest === "string" &&
    typeof e.revision === "string" &&
    typeof e.updated === "string" &&
    typeof e.sealed === "boolean" &&
    Number.isSafeInteger(e.size) &&
    (e.size as number) >= 0
  );
}

/**
 * Parses index.json. Anything that is not a registry index is an input error naming `where`; entries
 * with missing or mistyped fields make the whole index invalid rather than being skipped.
 */
export function parseIndex(text: string, where: string): RegistryIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail("input", `${where} is not a registry: not valid JSON`);
  }
  const idx = json as Partial<RegistryIndex>;
  if (typeof idx !== "object" || idx === null || idx.kind !== "qcap-registry" || !Array.isArray(idx.capsules))
    fail("input", `${where} is not a registry: no "kind": "qcap-registry" with a capsules list`);
  if (idx.version !== 1) fail("input", `${where}: unsupported registry version ${String(idx.version)}`);
  idx.capsules.forEach((c, i) => {
    if (!isEntry(c)) fail("input", `${where}: capsule ${i + 1} is not a valid registry entry`);
    if (!TOKEN.test(c.root) || !TOKEN.test(c.issuer))
      fail("input", `${where}: capsule ${i + 1} has a malformed root or issuer`);
  });
  return idx as RegistryIndex;
}

/** The index as stored: entries sorted by namespace/name, `updated` set to `now`. */
export function serializeIndex(index: RegistryIndex, now = new Date()): string {
  index.capsules.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  index.updated = now.toISOString();
  return `${JSON.stringify(index, null, 2)}\n`;
}

/** A copy of `index` where namespace/name is `entry` (or absent, when `entry` is null). */
export function withEntry(
  index: RegistryIndex,
  namespace: string,
  name: string,
  entry: RegistryEntry | null,
): { index: RegistryIndex; previous: RegistryEntry | undefined } {
  const same = (c: RegistryEntry) => c.namespace === namespace && c.name === name;
  const previous = index.capsules.find(same);
  const capsules = index.capsules.filter((c) => !same(c));
  if (entry) capsules.push(entry);
  return { index: { ...index, capsules }, previous };
}

/** Names are one path segment each: `namespace/name`, as the operator publishes them. */
const SEGMENT = /^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$/;

/** Splits `[namespace/]name`; the namespace defaults to `default`. Usage error when malformed. */
export function parseEntryName(text: string): { namespace: string; name: string } {
  const parts = text.split("/");
  const [namespace, name] = parts.length === 1 ? ["default", parts[0] ?? ""] : parts;
  if (parts.length > 2 || !SEGMENT.test(namespace ?? "") || !SEGMENT.test(name ?? ""))
    fail(
      "usage",
      `invalid capsule name "${text}": use NAME or NAMESPACE/NAME (lower-case letters, digits, '.', '_', '-')`,
    );
  return { namespace: namespace as string, name: name as string };
}

/**
 * The entry `ref` names: `NAME`, `NAMESPACE/NAME`, each optionally with `@latest` or `@ROOT` (the
 * Merkle root the entry must have). A bare NAME found in several namespaces is ambiguous.
 */
export function pickEntry(index: RegistryIndex, ref: string): RegistryEntry {
  const at = ref.lastIndexOf("@");
  const nameText = at === -1 ? ref : ref.slice(0, at);
  const version = at === -1 ? "latest" : ref.slice(at + 1);
  if (version !== "latest" && !TOKEN.test(version))
    fail("usage", `invalid version "@${version}": use @latest or @ROOT (the Merkle root)`);
  const matches = nameText.includes("/")
    ? (() => {
        const { namespace, name } = parseEntryName(nameText);
        return index.capsules.filter((c) => c.namespace === namespace && c.name === name);
      })()
    : index.capsules.filter((c) => c.name === nameText);
  if (matches.length === 0) fail("input", `no capsule named "${nameText}" in the registry`);
  if (matches.length > 1)
    fail("usage", `"${nameText}" is ambiguous: ${matches.map((c) => `${c.namespace}/${c.name}`).join(", ")}`);
  const entry = matches[0] as RegistryEntry;
  if (version !== "latest" && entry.root !== version)
    fail("input", `${entry.namespace}/${entry.name} is published with root ${entry.root}, not ${version}`);
  return entry;
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
  <p>Each capsule is one signed <code>.qcap</code> file. Fetch and verify one with
  <code>qcap fetch REGISTRY NAME -o FILE</code>, or verify and open a download with
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
