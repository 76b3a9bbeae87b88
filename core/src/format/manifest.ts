/**
 * The signed header of a version 2 capsule (design §5): `manifest.json`, the canonical JSON (JCS)
 * of exactly `{qcap, issuer, entries, root, seal}`, parsed strictly.
 */
import canonicalizeModule from "canonicalize";
import { MAX_RECIPIENTS, type Stanza, validateStanza } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { fromHex } from "../hash/hex.js";
import { MAX_ENTRIES } from "./pages.js";

export const FORMAT_VERSION = 2;
export const AEAD = "xchacha20poly1305-stream-64k";
export const MANIFEST_NAME = "manifest.json";
export const SIGNATURE_NAME = "signatures/manifest.ed25519";
/** Largest manifest a reader accepts, checked before it is read. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

export interface Seal {
  aead: typeof AEAD;
  capsuleId: string;
  /** Key commitment: binds the one master key every recipient must unwrap. */
  commitment: string;
  recipients: Stanza[];
  hiddenNames: boolean;
}

export interface Manifest {
  qcap: typeof FORMAT_VERSION;
  issuer: string;
  /** Number of content entries. */
  entries: number;
  root: string;
  seal: Seal | null;
}

const encoder = new TextEncoder();
// The package is CommonJS (`module.exports = serialize`); its typings describe an ES default export.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string;

export function encodeManifest(m: Manifest): Uint8Array {
  return encoder.encode(canonicalize(m));
}

type Obj = Record<string, unknown>;

function object(x: unknown, what: string, members: string[]): Obj {
  if (typeof x !== "object" || x === null || Array.isArray(x)) fail("format", `${what}: expected an object`);
  const o = x as Obj;
  for (const k of Object.keys(o)) if (!members.includes(k)) fail("format", `${what}: unknown member "${k}"`);
  for (const k of members) if (!(k in o)) fail("format", `${what}: missing member "${k}"`);
  return o;
}

function hex(x: unknown, bytes: number, what: string): string {
  if (typeof x !== "string") fail("format", `${what}: expected a hex string`);
  fromHex(x as string, bytes, what);
  if (x !== (x as string).toLowerCase()) fail("format", `${what}: expected lowercase hex`);
  return x as string;
}

/** The JSON value of a manifest, refusing what is not UTF-8 JSON. */
export function parseManifestJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return fail("format", "manifest.json is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch {
    return fail("format", "manifest.json is not valid JSON");
  }
}

/** The format version a manifest declares, refusing versions this release does not read. */
export function manifestVersion(json: unknown): 1 | 2 {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    fail("format", "manifest.json: expected an object");
  const v = (json as Obj).qcap;
  if (v === 1 || v === 2) return v;
  return fail("format", `format version ${JSON.stringify(v) ?? "(none)"} is not supported by this release`);
}

/** Reads only the issuer, so the signature can be checked before anything else is trusted. */
export function peekIssuer(json: unknown): string {
  if (typeof json !== "object" || json === null) fail("format", "manifest.json: expected an object");
  return hex((json as Obj).issuer, 32, "manifest issuer");
}

/** Parses and validates a version 2 manifest; its bytes must be the canonical encoding of the result. */
export function parseManifest(bytes: Uint8Array): Manifest {
  if (bytes.length > MAX_MANIFEST_BYTES) fail("format", "manifest.json is larger than 1 MiB");
  const raw = parseManifestJson(bytes);
  if (manifestVersion(raw) !== FORMAT_VERSION) fail("format", "manifest.json: expected format version 2");
  const o = object(raw, "manifest", ["qcap", "issuer", "entries", "root", "seal"]);
  hex(o.issuer, 32, "manifest issuer");
  hex(o.root, 32, "manifest root");
  const n = o.entries;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0 || n > MAX_ENTRIES)
    fail("format", "manifest entries: expected an entry count");
  if (o.seal !== null) parseSeal(o.seal);
  const canonical = encodeManifest(raw as Manifest);
  if (canonical.length !== bytes.length || canonical.some((b, i) => b !== bytes[i]))
    fail("format", "manifest.json is not in canonical form");
  return raw as Manifest;
}

function parseSeal(x: unknown): void {
  const s = object(x, "manifest seal", ["aead", "capsuleId", "commitment", "recipients", "hiddenNames"]);
  if (s.aead !== AEAD) fail("format", `manifest seal: unsupported aead ${JSON.stringify(s.aead)}`);
  hex(s.capsuleId, 16, "manifest seal capsuleId");
  hex(s.commitment, 32, "manifest seal commitment");
  if (!Array.isArray(s.recipients) || s.recipients.length === 0)
    fail("format", "manifest seal: recipients must be a non-empty array");
  if (s.recipients.length > MAX_RECIPIENTS)
    fail("format", `manifest seal: more than ${MAX_RECIPIENTS} recipients (${s.recipients.length})`);
  const stanzas = (s.recipients as unknown[]).map(validateStanza);
  if (stanzas.filter((r) => r.type === "argon2id").length > 1)
    fail("format", "manifest seal: at most one passphrase recipient");
  if (typeof s.hiddenNames !== "boolean") fail("format", "manifest seal: hiddenNames must be true or false");
}
