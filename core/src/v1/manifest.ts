/**
 * The signed manifest of format version 1 (every entry listed in it), read only: types, canonical
 * encoding and strict parsing, for the version 1 adaptor.
 */
import canonicalizeModule from "canonicalize";
import { MAX_RECIPIENTS, type Stanza, validateStanza } from "../crypto/recipients.js";
import { storedSize } from "../crypto/stream.js";
import { fail } from "../errors.js";
import { compareNames } from "../format/entries.js";
import { fromHex, toHex } from "../hash/hex.js";
import { capsuleRoot } from "../integrity/merkle.js";
import { chunkCount } from "../integrity/tree.js";
import { checkNameSet, validateEntryName } from "../zip/names.js";

export const FORMAT_VERSION = 1;
export const CHUNK_SIZE = 65536;
export const AEAD = "xchacha20poly1305-stream-64k";
export const MODE_FILE = 0o644;
export const MODE_EXEC = 0o755;

export interface ManifestEntry {
  name: string;
  size: number;
  mode: number;
  crc32: string;
  digest: string;
  indexCrc32?: string;
}

export interface Seal {
  aead: typeof AEAD;
  capsuleId: string;
  /** Key commitment (§5.4): binds the one master key every recipient must unwrap. */
  commitment: string;
  recipients: Stanza[];
  names: string | null;
}

export interface Manifest {
  qcap: typeof FORMAT_VERSION;
  issuer: string;
  chunkSize: typeof CHUNK_SIZE;
  entries: ManifestEntry[];
  root: string;
  seal: Seal | null;
}

const encoder = new TextEncoder();
// The package is CommonJS (`module.exports = serialize`); its typings describe an ES default export.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string;

export function encodeManifest(m: Manifest): Uint8Array {
  const { entries, ...rest } = m;
  // Entries are written directly (their keys in JCS order): with tens of thousands of them the
  // generic encoder's key sorting is most of the time. The rest goes through it. `"entries":[]`
  // with bare quotes can only be the key itself: quotes inside JSON strings are escaped.
  const head = canonicalize({ ...rest, entries: [] });
  const body = entries.map(entryJcs).join(",");
  return encoder.encode(head.replace('"entries":[]', () => `"entries":[${body}]`));
}

const ENTRY_KEYS = new Set(["crc32", "digest", "indexCrc32", "mode", "name", "size"]);

/** JCS of one entry: keys in UTF-16 order, JSON.stringify strings, integers as ES numbers (RFC 8785 §3.2). */
function entryJcs(e: ManifestEntry): string {
  for (const k in e) if (!ENTRY_KEYS.has(k)) return canonicalize(e);
  const strings = [e.crc32, e.digest, e.name, e.indexCrc32 ?? ""];
  if (
    !Number.isSafeInteger(e.mode) ||
    !Number.isSafeInteger(e.size) ||
    strings.some((x) => typeof x !== "string")
  ) {
    return canonicalize(e);
  }
  const str = JSON.stringify;
  const index = e.indexCrc32 === undefined ? "" : `,"indexCrc32":${str(e.indexCrc32)}`;
  return `{"crc32":${str(e.crc32)},"digest":${str(e.digest)}${index},"mode":${e.mode},"name":${str(e.name)},"size":${e.size}}`;
}

/** Stored length of an entry: payload is encrypted when the capsule is sealed, metadata never. */
export function entryStoredSize(e: Pick<ManifestEntry, "name" | "size">, sealed: boolean): number {
  return sealed && e.name.startsWith("payload/") ? storedSize(e.size) : e.size;
}

export function storedChunkSize(name: string, sealed: boolean): number {
  return sealed && name.startsWith("payload/") ? CHUNK_SIZE + 16 : CHUNK_SIZE;
}

export function hasIndex(e: Pick<ManifestEntry, "name" | "size">, sealed: boolean): boolean {
  return chunkCount(entryStoredSize(e, sealed), storedChunkSize(e.name, sealed)) > 1;
}

/** Sort key: all payload entries first, then metadata, each by UTF-8 bytes. */
export function compareEntries(a: string, b: string): number {
  const pa = a.startsWith("payload/") ? 0 : 1;
  const pb = b.startsWith("payload/") ? 0 : 1;
  return pa - pb || compareNames(a, b);
}

export function rootOf(entries: readonly ManifestEntry[]): string {
  return toHex(
    capsuleRoot(entries.map((e) => ({ name: e.name, size: e.size, digest: fromHex(e.digest, 32) }))),
  );
}

// ---- strict parsing -------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function object(x: unknown, what: string, members: string[], optional: string[] = []): Obj {
  if (typeof x !== "object" || x === null || Array.isArray(x)) fail("format", `${what}: expected an object`);
  const o = x as Obj;
  for (const k of Object.keys(o)) {
    if (!members.includes(k) && !optional.includes(k)) fail("format", `${what}: unknown member "${k}"`);
  }
  for (const k of members) if (!(k in o)) fail("format", `${what}: missing member "${k}"`);
  return o;
}

function uint(x: unknown, what: string): number {
  if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0)
    fail("format", `${what}: expected an integer`);
  return x as number;
}

function hex(x: unknown, bytes: number, what: string): string {
  if (typeof x !== "string") fail("format", `${what}: expected a hex string`);
  fromHex(x as string, bytes, what);
  return x as string;
}

/** Reads only the version and issuer, so the signature can be checked before anything is trusted. */
export function peekIssuer(bytes: Uint8Array): string {
  const o = parseJson(bytes);
  checkVersion(o);
  return hex((o as Obj).issuer, 32, "manifest issuer");
}

function parseJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return fail("format", "manifest.json is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch {
    return fail("format", "manifest.json is not valid JSON");
  }
}

function checkVersion(o: unknown): void {
  if (typeof o !== "object" || o === null) fail("format", "manifest.json: expected an object");
  const v = (o as Obj).qcap;
  if (v !== FORMAT_VERSION) {
    fail("format", `format version ${JSON.stringify(v) ?? "(none)"} is not supported by this release`);
  }
}

/** Parses and validates a manifest; its bytes must be the canonical encoding of the result. */
export function parseManifest(bytes: Uint8Array): Manifest {
  const raw = parseJson(bytes);
  checkVersion(raw);
  const o = object(raw, "manifest", ["qcap", "issuer", "chunkSize", "entries", "root", "seal"]);
  hex(o.issuer, 32, "manifest issuer");
  if (o.chunkSize !== CHUNK_SIZE) fail("format", `manifest: unsupported chunkSize ${String(o.chunkSize)}`);
  const seal = o.seal === null ? null : parseSeal(o.seal);
  const sealed = seal !== null;
  if (!Array.isArray(o.entries)) fail("format", "manifest entries: expected an array");
  const entries = (o.entries as unknown[]).map((x, i) => parseEntry(x, i, sealed));
  checkNameSet(entries.map((e) => e.name));
  for (let i = 1; i < entries.length; i++) {
    if (compareEntries((entries[i - 1] as ManifestEntry).name, (entries[i] as ManifestEntry).name) >= 0) {
      fail(
        "format",
        `manifest entries are not in canonical order at "${(entries[i] as ManifestEntry).name}"`,
      );
    }
  }
  if (seal?.names != null) checkHiddenNames(entries);
  const root = hex(o.root, 32, "manifest root");
  if (rootOf(entries) !== root) fail("integrity", "manifest root does not match its entries");
  const m = raw as Manifest;
  const canonical = encodeManifest(m);
  if (canonical.length !== bytes.length || canonical.some((b, i) => b !== bytes[i])) {
    fail("format", "manifest.json is not in canonical form");
  }
  return m;
}

function parseEntry(x: unknown, i: number, sealed: boolean): ManifestEntry {
  const what = `manifest entry ${i}`;
  const e = object(x, what, ["name", "size", "mode", "crc32", "digest"], ["indexCrc32"]);
  if (typeof e.name !== "string") fail("format", `${what}: name must be a string`);
  const name = e.name as string;
  validateEntryName(name);
  if (!name.startsWith("payload/") && !name.startsWith("meta/")) {
    fail("format", `${what}: "${name}" is not under payload/ or meta/`);
  }
  const size = uint(e.size, `${what} size`);
  if (e.mode !== MODE_FILE && e.mode !== MODE_EXEC) fail("format", `${what}: mode must be 420 or 493`);
  hex(e.crc32, 4, `${what} crc32`);
  hex(e.digest, 32, `${what} digest`);
  const wantIndex = hasIndex({ name, size }, sealed);
  if (wantIndex !== "indexCrc32" in e) {
    fail("format", `${what}: indexCrc32 must be ${wantIndex ? "present" : "absent"} for this size`);
  }
  if (wantIndex) hex(e.indexCrc32, 4, `${what} indexCrc32`);
  return e as unknown as ManifestEntry;
}

function parseSeal(x: unknown): Seal {
  const s = object(x, "manifest seal", ["aead", "capsuleId", "commitment", "recipients", "names"]);
  if (s.aead !== AEAD) fail("format", `manifest seal: unsupported aead ${JSON.stringify(s.aead)}`);
  hex(s.capsuleId, 16, "manifest seal capsuleId");
  hex(s.commitment, 32, "manifest seal commitment");
  if (!Array.isArray(s.recipients) || s.recipients.length === 0) {
    fail("format", "manifest seal: recipients must be a non-empty array");
  }
  if (s.recipients.length > MAX_RECIPIENTS) {
    fail("format", `manifest seal: more than ${MAX_RECIPIENTS} recipients (${s.recipients.length})`);
  }
  const stanzas = (s.recipients as unknown[]).map(validateStanza);
  if (stanzas.filter((r) => r.type === "argon2id").length > 1) {
    fail("format", "manifest seal: at most one passphrase recipient");
  }
  if (s.names !== null && typeof s.names !== "string")
    fail("format", "manifest seal: names must be hex or null");
  if (typeof s.names === "string") fromHex(s.names, undefined, "manifest seal names");
  return s as unknown as Seal;
}

export function hiddenName(i: number): string {
  return `payload/${String(i + 1).padStart(8, "0")}`;
}

function checkHiddenNames(entries: ManifestEntry[]): void {
  const payload = entries.filter((e) => e.name.startsWith("payload/"));
  payload.forEach((e, i) => {
    if (e.name !== hiddenName(i))
      fail("format", `manifest: hidden entry ${i} should be named ${hiddenName(i)}`);
  });
}
