/**
 * Grant files (SPEC §11): a macaroon, the issuer's Ed25519 signature over its caveats and over
 * commitments to the keys it grants, and the file keys of the granted entries only, wrapped to the
 * audience's X25519 key. Path limits and audience hold by cryptography: a holder has the keys of the
 * granted entries and nothing from which any other key can be derived.
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { blake3 } from "@noble/hashes/blake3.js";
import type { Capsule } from "../capsule/capsule.js";
import { type EntryKeys, realNames } from "../capsule/unlock.js";
import { concatBytes, equalBytes, fromHex, isHex, randomBytes, toHex, utf8 } from "../crypto/bytes.js";
import { fileKey as deriveFileKey, hkdf32 } from "../crypto/kdf.js";
import { kid, x25519ReceiverKey, x25519SenderKey } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { jcs } from "../jcs.js";
import { type SigningKey, sign, verify } from "../keys/ed25519.js";
import { validateEntryName } from "../zip/names.js";
import {
  type Allow,
  type Caveat,
  type Effective,
  effective,
  formatCaveat,
  parseCaveat,
  pathMatcher,
} from "./caveats.js";
import {
  appendCaveats,
  decodeMacaroonV2,
  encodeMacaroonV2,
  type Macaroon,
  mintMacaroon,
} from "./macaroon.js";
import type { RevocationList } from "./revocation.js";
import { formatRfc3339 } from "./time.js";

export const GRANT_TYPE = "qcap-grant";
export const MACAROON_LOCATION = "qcap";

const ROOT_INFO = utf8("qcap/v1 macaroon root");
const TAG_INFO = utf8("qcap/v1 grant entry tag");
const CHAIN_PREFIX = utf8("qcap/v1 grant chain\0");
const SIGNED_PREFIX = utf8("qcap/v1 grant\0");
const KEYS_PREFIX = utf8("qcap/v1 grant keys\0");
const WRAP_INFO = utf8("qcap/v1 grant x25519");
const ZERO_NONCE = new Uint8Array(24);
/** Upper bound on a grant's wrapped keys, which hold at most a few thousand entries. */
const MAX_CIPHERTEXT_HEX = 32 * 1024 * 1024;
/**
 * Caveats a reader accepts in a token (SPEC §11.4), refused before any is parsed or checked: the
 * issuer writes at most six, and each attenuation appends a few.
 */
export const MAX_CAVEATS = 64;

/** The part of a grant the issuer signs (SPEC §11.4). */
export interface GrantIssued {
  issuer: string;
  capsule: string;
  capsuleId: string;
  id: string;
  caveats: string[];
  chain: string;
  entries: string[];
}

/** The granted entries' keys, wrapped to the audience (SPEC §11.5). */
export interface GrantKeys {
  kid: string;
  epk: string;
  ciphertext: string;
}

export interface Grant {
  macaroon: Macaroon;
  issued: GrantIssued;
  /** 64-byte Ed25519 signature of `grantSignedMessage(issued)`. */
  signature: Uint8Array;
  keys: GrantKeys;
}

/** One granted entry as the audience sees it after unwrapping. */
export interface GrantEntry {
  /** The entry's name in the ZIP (`payload/00000001` when names are hidden). */
  entry: string;
  /** Its real name. */
  name: string;
  /** Its file key (SPEC §5.1); absent in an `allow = inspect` grant. */
  key?: Uint8Array;
  /** `HKDF(fileKey, capsuleId, "qcap/v1 grant entry tag")`. */
  tag: Uint8Array;
}

// ---- derivations ----------------------------------------------------------------------------

/** The macaroon root key of a capsule: `HKDF(masterKey, capsuleId, "qcap/v1 macaroon root")`. */
export function grantRootKey(masterKey: Uint8Array, capsuleId: Uint8Array): Uint8Array {
  return hkdf32(masterKey, capsuleId, ROOT_INFO);
}

export const entryTag = (fileKey: Uint8Array, capsuleId: Uint8Array): Uint8Array =>
  hkdf32(fileKey, capsuleId, TAG_INFO);

/** `BLAKE3(tag || JCS([entry, name]))`: commits to one entry's key and real name. */
export const entryCommitment = (tag: Uint8Array, entry: string, name: string): string =>
  toHex(blake3(concatBytes(tag, jcs([entry, name]))));

/** `BLAKE3("qcap/v1 grant chain" || 0x00 || signature)`: the issuer's macaroon signature, committed. */
export const chainDigest = (signature: Uint8Array): string =>
  toHex(blake3(concatBytes(CHAIN_PREFIX, signature)));

/** The bytes the issuer signs: `"qcap/v1 grant" || 0x00 || JCS(issued)`. */
export const grantSignedMessage = (issued: GrantIssued): Uint8Array =>
  concatBytes(SIGNED_PREFIX, jcs(issued));

function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}

/** `BLAKE3` of the identifier, each caveat and the signature, each field but the last length-prefixed. */
export function tokenDigest(m: Macaroon): Uint8Array {
  const parts: Uint8Array[] = [u32be(m.identifier.length), m.identifier];
  for (const c of m.caveats) parts.push(u32be(c.length), c);
  parts.push(m.signature);
  return blake3(concatBytes(...parts));
}

/** Associated data of the wrapped keys: binds them to the signed part and to the exact token. */
export const keysAad = (issued: GrantIssued, m: Macaroon): Uint8Array =>
  concatBytes(KEYS_PREFIX, blake3(jcs(issued)), tokenDigest(m));

// ---- wrapping -------------------------------------------------------------------------------

interface KeysPlain {
  entries: { entry: string; name: string; key?: string; tag?: string }[];
}

/** Wraps entries to an X25519 audience (fresh ephemeral key unless one is given, for vectors only). */
export function sealGrantKeys(
  entries: readonly GrantEntry[],
  audience: Uint8Array,
  aad: Uint8Array,
  ephemeralSecret: Uint8Array = x25519.utils.randomSecretKey(),
): GrantKeys {
  const plain: KeysPlain = {
    entries: entries.map((e) =>
      e.key
        ? { entry: e.entry, key: toHex(e.key), name: e.name }
        : { entry: e.entry, name: e.name, tag: toHex(e.tag) },
    ),
  };
  const { epk, wrapKey } = x25519SenderKey(audience, ephemeralSecret, WRAP_INFO);
  const bytes = jcs(plain);
  const ciphertext = xchacha20poly1305(wrapKey, ZERO_NONCE, aad).encrypt(bytes);
  bytes.fill(0);
  return { kid: kid(audience), epk: toHex(epk), ciphertext: toHex(ciphertext) };
}

/** The wrapped entries, or null when they do not open with this identity and associated data. */
function openGrantKeys(
  keys: GrantKeys,
  identity: Uint8Array,
  aad: Uint8Array,
  capsuleId: Uint8Array,
): GrantEntry[] | null {
  const wrapKey = x25519ReceiverKey(identity, fromHex(keys.epk), WRAP_INFO);
  if (!wrapKey) return null;
  let bytes: Uint8Array;
  try {
    bytes = xchacha20poly1305(wrapKey, ZERO_NONCE, aad).decrypt(fromHex(keys.ciphertext));
  } catch {
    return null;
  }
  const broken = (why: string): never => fail("integrity", `the grant's wrapped keys are malformed: ${why}`);
  let plain: unknown;
  try {
    plain = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return broken("not JSON");
  } finally {
    bytes.fill(0);
  }
  const o = plain as KeysPlain;
  if (typeof o !== "object" || o === null || !Array.isArray(o.entries) || Object.keys(o).length !== 1) {
    return broken("expected {entries}");
  }
  return o.entries.map((e) => {
    if (typeof e !== "object" || e === null) return broken("an entry is not an object");
    const names = Object.keys(e).sort().join(",");
    if (typeof e.entry !== "string" || typeof e.name !== "string")
      return broken("entry and name must be strings");
    if (names === "entry,key,name" && isHex(e.key, 32)) {
      const key = fromHex(e.key);
      return { entry: e.entry, name: e.name, key, tag: entryTag(key, capsuleId) };
    }
    if (names === "entry,name,tag" && isHex(e.tag, 32))
      return { entry: e.entry, name: e.name, tag: fromHex(e.tag) };
    return broken("each entry is {entry, name, key} or {entry, name, tag}");
  });
}

// ---- issuing --------------------------------------------------------------------------------

export interface IssueOptions {
  /** The capsule issuer's signing key. */
  signingKey: SigningKey;
  /** The audience's X25519 public key. */
  audience: Uint8Array;
  allow?: Allow;
  /** Globs over real entry names (`payload/…`); an entry must match at least one. None: every entry. */
  paths?: string[];
  /** Expiry, ms since the epoch. */
  expires?: number;
  purpose?: string;
  /** The current time (ms since the epoch), to refuse an expiry already past. */
  now: number;
  /** @internal Source of the token id and ephemeral key, only for reproducible test vectors. */
  random?: (length: number) => Uint8Array;
}

/** Joins globs into one that matches what any of them matches (`{a,b}`), or returns the one glob. */
export function unionGlob(globs: readonly string[]): string {
  if (globs.length === 0) fail("usage", "no path glob");
  return globs.length === 1 ? (globs[0] as string) : `{${globs.join(",")}}`;
}

/** Mints a grant for a sealed capsule whose master key the issuer holds. */
export async function issueGrant(capsule: Capsule, masterKey: Uint8Array, o: IssueOptions): Promise<Grant> {
  const seal = capsule.manifest.seal ?? fail("usage", "the capsule is not sealed: there is nothing to grant");
  if (toHex(o.signingKey.publicKey) !== capsule.manifest.issuer) {
    fail("usage", "the signing key is not the capsule's issuer key: only the issuer can sign grants");
  }
  if (o.expires !== undefined && o.expires <= o.now) fail("usage", "the expiry is not in the future");
  const random = o.random ?? randomBytes;
  const capsuleId = fromHex(seal.capsuleId);
  const caveats: Caveat[] = [
    { kind: "capsule", root: capsule.manifest.root },
    { kind: "aud", kid: kid(o.audience) },
    { kind: "allow", allow: o.allow ?? "read" },
  ];
  if (o.expires !== undefined) caveats.push({ kind: "expires", time: o.expires });
  if (o.purpose !== undefined) caveats.push({ kind: "purpose", word: o.purpose });
  if (o.paths && o.paths.length > 0) caveats.push({ kind: "path", glob: unionGlob(o.paths) });
  const texts = caveats.map(formatCaveat);

  const match = pathMatcher(o.paths && o.paths.length > 0 ? [unionGlob(o.paths)] : []);
  const names = await realNames(capsule, masterKey);
  const entries: GrantEntry[] = [];
  for (const [entry, name] of names) {
    if (!match(name)) continue;
    const key = deriveFileKey(masterKey, capsuleId, entry);
    const tag = entryTag(key, capsuleId);
    entries.push(o.allow === "inspect" ? { entry, name, tag } : { entry, name, key, tag });
  }
  if (entries.length === 0) fail("usage", "no payload entry matches the given paths");

  const id = toHex(random(16));
  const m = appendCaveats(
    mintMacaroon(grantRootKey(masterKey, capsuleId), utf8(id), MACAROON_LOCATION),
    texts.map(utf8),
  );
  const issued: GrantIssued = {
    issuer: capsule.manifest.issuer,
    capsule: capsule.manifest.root,
    capsuleId: seal.capsuleId,
    id,
    caveats: texts,
    chain: chainDigest(m.signature),
    entries: entries.map((e) => entryCommitment(e.tag, e.entry, e.name)).sort(),
  };
  const signature = sign(o.signingKey.seed, grantSignedMessage(issued));
  const keys = sealGrantKeys(entries, o.audience, keysAad(issued, m), random(32));
  return { macaroon: m, issued, signature, keys };
}

// ---- checking -------------------------------------------------------------------------------

export interface CheckOptions {
  /** The current time, ms since the epoch. */
  now: number;
  /** When given, the grant must be for this capsule and signed by its issuer. */
  capsule?: Capsule;
  /** The audience's X25519 identity secret: needed to unwrap the keys. */
  identity?: Uint8Array;
  /** A revocation list already verified (signature, sequence, freshness) for the grant's issuer. */
  revocations?: RevocationList;
  /** The purpose the holder declares; must equal the grant's purpose when it names one. */
  purpose?: string;
  /** Skip the purpose check (attenuation carries the purpose caveat on instead of using it). */
  anyPurpose?: boolean;
}

export interface CheckedGrant {
  id: string;
  issuer: string;
  caveats: Caveat[];
  /** How many caveats holders appended after the issuer's (attenuation). */
  appended: number;
  effective: Effective & { allow: Allow; audience: string };
  /** The unwrapped entries, when an identity was given. */
  entries?: GrantEntry[];
}

const edited = (why: string): never => fail("integrity", `the grant was tampered with: ${why}`);

/**
 * Checks a grant offline (SPEC §11.7): the issuer's signature, the token against the signed part,
 * the caveats (unknown ones fail closed), capsule, expiry, revocation, purpose and, with an
 * identity, the audience and the wrapped keys. Every refusal names its reason.
 */
export function checkGrant(grant: Grant, o: CheckOptions): CheckedGrant {
  const { issued, macaroon: m } = grant;
  const issuer = fromHex(issued.issuer);
  if (!verify(issuer, grantSignedMessage(issued), grant.signature)) {
    edited("the issuer's signature does not verify");
  }
  if (o.capsule) {
    const man = o.capsule.manifest;
    if (issued.issuer !== man.issuer) {
      fail(
        "unauthorized",
        `the grant is signed by ${kid(issuer)}, not by this capsule's issuer ${kid(fromHex(man.issuer))}`,
      );
    }
    if (issued.capsule !== man.root || issued.capsuleId !== man.seal?.capsuleId) {
      fail(
        "unauthorized",
        `the grant is for another capsule (root ${issued.capsule.slice(0, 16)}…, not ${man.root.slice(0, 16)}…)`,
      );
    }
  }
  if (!equalBytes(m.identifier, utf8(issued.id))) edited("the token's id is not the signed one");
  const n = issued.caveats.length;
  const prefixOk =
    m.caveats.length >= n && issued.caveats.every((c, i) => equalBytes(m.caveats[i] as Uint8Array, utf8(c)));
  if (!prefixOk) edited("a caveat the issuer signed was removed, changed or reordered");
  const texts = m.caveats.map((c) => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(c);
    } catch {
      return fail("unauthorized", "a caveat is not UTF-8 text: refusing the grant");
    }
  });
  const caveats = texts.map(parseCaveat);
  const own = effective(caveats.slice(0, n));
  if (own.capsule !== issued.capsule || own.audience === null || own.allow === null) {
    edited("the issuer's caveats lack capsule, aud or allow");
  }
  if (caveats.slice(0, n).filter((c) => c.kind === "capsule" || c.kind === "allow").length !== 2) {
    edited("the issuer's caveats must hold one capsule and one allow caveat");
  }
  const appended = m.caveats.length - n;
  if (appended === 0 && chainDigest(m.signature) !== issued.chain) {
    edited("the macaroon signature is forged (it is not the one the issuer signed)");
  }
  const eff = effective(caveats) as CheckedGrant["effective"];
  if (eff.expires !== null && o.now >= eff.expires) {
    fail("unauthorized", `the grant expired at ${formatRfc3339(eff.expires)}`);
  }
  const revoked = o.revocations?.revoked.find((r) => r.id === issued.id);
  if (revoked) {
    fail("unauthorized", `the grant ${issued.id} is revoked (${revoked.reason}, at ${revoked.time})`);
  }
  if (eff.purpose !== null && o.purpose !== eff.purpose && !o.anyPurpose) {
    fail(
      "unauthorized",
      o.purpose === undefined
        ? `the grant is only for the purpose "${eff.purpose}": pass --purpose ${eff.purpose} to accept it`
        : `the grant is for the purpose "${eff.purpose}", not "${o.purpose}"`,
    );
  }
  const out: CheckedGrant = { id: issued.id, issuer: issued.issuer, caveats, appended, effective: eff };
  if (o.identity) out.entries = unwrapEntries(grant, eff, o.identity, o.capsule);
  return out;
}

function unwrapEntries(
  grant: Grant,
  eff: CheckedGrant["effective"],
  identity: Uint8Array,
  capsule?: Capsule,
): GrantEntry[] {
  const { issued, keys } = grant;
  const me = kid(x25519.getPublicKey(identity));
  if (me !== eff.audience) {
    fail("unauthorized", `the grant is for the audience ${eff.audience}, not for this identity (${me})`);
  }
  if (keys.kid !== eff.audience)
    edited(`its keys are wrapped to ${keys.kid}, not to its audience ${eff.audience}`);
  const capsuleId = fromHex(issued.capsuleId);
  const entries = openGrantKeys(keys, identity, keysAad(issued, grant.macaroon), capsuleId);
  if (!entries) edited("its keys do not open with its token (an edited token or a forged signature)");
  const granted = new Set(issued.entries);
  const match = pathMatcher(eff.paths);
  const seen = new Set<string>();
  for (const e of entries as GrantEntry[]) {
    validateEntryName(e.entry);
    validateEntryName(e.name);
    if (!e.entry.startsWith("payload/") || !e.name.startsWith("payload/"))
      edited("it holds a non-payload entry");
    if (seen.has(e.entry)) edited(`it holds ${e.entry} twice`);
    seen.add(e.entry);
    if (!granted.has(entryCommitment(e.tag, e.entry, e.name)))
      edited("it holds a key the issuer did not grant");
    if (!match(e.name)) edited(`it holds a key for ${e.name}, outside its paths`);
    if ((eff.allow === "read") !== (e.key !== undefined))
      edited(`its keys do not agree with "allow = ${eff.allow}"`);
  }
  if (capsule && !capsule.hiddenNames) {
    for (const e of entries as GrantEntry[])
      if (e.entry !== e.name) edited(`it names ${e.entry}, which this capsule does not hold`);
  }
  return entries as GrantEntry[];
}

/**
 * Checks that the capsule holds every entry of a checked grant: one index lookup each (the capsule's
 * index is read page by page, so this is not part of the synchronous `checkGrant`).
 */
export async function checkGrantEntriesHeld(capsule: Capsule, entries: readonly GrantEntry[]): Promise<void> {
  for (const e of entries) {
    if (!(await capsule.has(e.entry)))
      fail("integrity", `the grant was tampered with: it names ${e.entry}, which this capsule does not hold`);
  }
}

/** Entry keys from a checked grant: the granted entries' keys, null for every other entry. */
export function grantEntryKeys(grant: Grant, entries: readonly GrantEntry[]): EntryKeys {
  const capsuleId = fromHex(grant.issued.capsuleId);
  const byEntry = new Map(entries.filter((e) => e.key).map((e) => [e.entry, e.key as Uint8Array]));
  return { capsuleId, fileKey: (name) => byEntry.get(name) ?? null };
}

// ---- the file -------------------------------------------------------------------------------

/** The grant file: pretty-printed JSON with a final newline. */
export function serializeGrant(g: Grant): string {
  const json = {
    type: GRANT_TYPE,
    version: 1,
    macaroon: encodeMacaroonV2(g.macaroon),
    issued: g.issued,
    signature: toHex(g.signature),
    keys: g.keys,
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

const malformed = (why: string): never => fail("input", `malformed grant: ${why}`);

function obj(x: unknown, what: string, members: readonly string[]): Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return malformed(`${what} must be an object`);
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!members.includes(k)) malformed(`unknown member "${k}" in ${what}`);
  for (const k of members) if (!(k in o)) malformed(`missing member "${k}" in ${what}`);
  return o;
}

function hexMember(o: Record<string, unknown>, k: string, bytes: number, what: string): string {
  return isHex(o[k], bytes)
    ? (o[k] as string)
    : malformed(`${what}.${k} must be ${2 * bytes} lowercase hex digits`);
}

/** Parses a grant file strictly (structure only: `checkGrant` decides whether to trust it). */
export function parseGrant(text: string): Grant {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return malformed("not valid JSON");
  }
  const top = obj(json, "the grant", ["type", "version", "macaroon", "issued", "signature", "keys"]);
  if (top.type !== GRANT_TYPE) malformed(`"type" must be "${GRANT_TYPE}"`);
  if (top.version !== 1)
    malformed(`unsupported version ${JSON.stringify(top.version)} (this qcap reads version 1)`);
  const macaroon = decodeMacaroonV2(top.macaroon);
  if (macaroon.caveats.length > MAX_CAVEATS) malformed(`more than ${MAX_CAVEATS} caveats`);
  const i = obj(top.issued, "issued", [
    "issuer",
    "capsule",
    "capsuleId",
    "id",
    "caveats",
    "chain",
    "entries",
  ]);
  const issued: GrantIssued = {
    issuer: hexMember(i, "issuer", 32, "issued"),
    capsule: hexMember(i, "capsule", 32, "issued"),
    capsuleId: hexMember(i, "capsuleId", 16, "issued"),
    id: hexMember(i, "id", 16, "issued"),
    caveats:
      Array.isArray(i.caveats) && i.caveats.every((c) => typeof c === "string")
        ? (i.caveats as string[])
        : malformed("issued.caveats must be an array of strings"),
    chain: hexMember(i, "chain", 32, "issued"),
    entries:
      Array.isArray(i.entries) && i.entries.every((e) => isHex(e, 32))
        ? (i.entries as string[])
        : malformed("issued.entries must be an array of 64-hex commitments"),
  };
  if (!isHex(top.signature, 64)) malformed("signature must be 128 lowercase hex digits");
  const k = obj(top.keys, "keys", ["kid", "epk", "ciphertext"]);
  const ct = k.ciphertext;
  if (
    typeof ct !== "string" ||
    ct.length < 32 ||
    ct.length > MAX_CIPHERTEXT_HEX ||
    !isHex(ct, ct.length / 2)
  ) {
    malformed("keys.ciphertext must be lowercase hex");
  }
  const keys: GrantKeys = {
    kid: hexMember(k, "kid", 8, "keys"),
    epk: hexMember(k, "epk", 32, "keys"),
    ciphertext: ct as string,
  };
  return { macaroon, issued, signature: fromHex(top.signature as string), keys };
}

/** What `qcap inspect cap.json` shows: caveats, audience, expiry, paths, id; never a secret. */
export function describeGrant(g: Grant) {
  const texts = g.macaroon.caveats.map((c) => new TextDecoder().decode(c));
  let eff: Effective | null = null;
  let problem: string | null = null;
  try {
    eff = effective(texts.map(parseCaveat));
  } catch (e) {
    problem = (e as Error).message;
  }
  return {
    id: g.issued.id,
    issuer: g.issued.issuer,
    issuerFingerprint: kid(fromHex(g.issued.issuer)),
    capsule: g.issued.capsule,
    capsuleId: g.issued.capsuleId,
    caveats: texts,
    issuerCaveats: g.issued.caveats.length,
    audience: eff?.audience ?? null,
    keysFor: g.keys.kid,
    allow: eff?.allow ?? null,
    expires: eff?.expires != null ? formatRfc3339(eff.expires) : null,
    paths: eff?.paths ?? [],
    purpose: eff?.purpose ?? null,
    entriesGranted: g.issued.entries.length,
    problem,
  };
}
