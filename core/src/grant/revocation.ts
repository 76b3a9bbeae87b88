/**
 * Signed revocation lists (SPEC §12): the issuer's list of revoked grant ids, with a sequence number
 * that only increases, the time it was issued and the time of the next update.
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { concatBytes, fromHex, isHex, toHex, utf8 } from "../crypto/bytes.js";
import { kid } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { jcs } from "../jcs.js";
import { type SigningKey, sign, verify } from "../keys/ed25519.js";
import { formatRfc3339, MAX_TIME, parseRfc3339 } from "./time.js";

export const REVOCATIONS_TYPE = "qcap-revocations";
/** A list is still accepted this long after its `nextUpdate`. */
export const DEFAULT_GRACE_MS = 24 * 3_600_000;
/** Clock skew tolerated for an `issuedAt` in the future. */
export const CLOCK_SKEW_MS = 5 * 60_000;
const SIGNED_PREFIX = utf8("qcap/v1 revocations\0");
const MAX_REASON = 200;

export interface Revoked {
  id: string;
  reason: string;
  time: string;
}

export interface RevocationBody {
  type: typeof REVOCATIONS_TYPE;
  version: 1;
  issuer: string;
  sequence: number;
  issuedAt: string;
  nextUpdate: string;
  revoked: Revoked[];
}

export interface RevocationList extends RevocationBody {
  signature: string;
}

/** The bytes signed: `"qcap/v1 revocations" || 0x00 || JCS(the list without "signature")`. */
export const revocationSignedMessage = (body: RevocationBody): Uint8Array =>
  concatBytes(SIGNED_PREFIX, jcs(body));

function bodyOf(list: RevocationList): RevocationBody {
  const { signature: _, ...body } = list;
  return body;
}

/** A digest of the whole signed list, to tell two lists with the same sequence apart. */
export const revocationDigest = (list: RevocationList): string => toHex(blake3(jcs(list)));

export function signRevocationList(body: RevocationBody, key: SigningKey): RevocationList {
  if (toHex(key.publicKey) !== body.issuer) throw new TypeError("the key is not the list's issuer");
  return { ...body, signature: toHex(sign(key.seed, revocationSignedMessage(body))) };
}

export function checkReason(reason: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (reason.length === 0 || reason.length > MAX_REASON || /[\u0000-\u001f\u007f]/.test(reason)) {
    fail("usage", `a reason is one line of 1 to ${MAX_REASON} characters`);
  }
  return reason;
}

export interface UpdateOptions {
  key: SigningKey;
  /** Ids to add (32 hex digits each); ids already listed are kept as they were. */
  ids: string[];
  reason: string;
  now: number;
  /** How long until the next update, in ms. */
  validity: number;
}

/**
 * A new list: `previous` (already verified) plus `ids`, with the next sequence number, `issuedAt`
 * now and `nextUpdate` now plus `validity`. Without `previous` the sequence starts at 1.
 */
export function updateRevocationList(previous: RevocationList | null, o: UpdateOptions): RevocationList {
  const issuer = toHex(o.key.publicKey);
  if (previous && previous.issuer !== issuer) {
    fail(
      "unauthorized",
      `the list is signed by ${kid(fromHex(previous.issuer))}, not by this key (${kid(o.key.publicKey)})`,
    );
  }
  for (const id of o.ids)
    if (!isHex(id, 16)) fail("usage", `a token id is 32 lowercase hex digits: ${JSON.stringify(id)}`);
  checkReason(o.reason);
  if (!(o.validity > 0)) fail("usage", "the validity must be positive");
  const revoked = [...(previous?.revoked ?? [])];
  const time = formatRfc3339(o.now);
  for (const id of o.ids) if (!revoked.some((r) => r.id === id)) revoked.push({ id, reason: o.reason, time });
  const next = o.now + o.validity;
  if (next > MAX_TIME) fail("usage", "the next update is too far in the future");
  return signRevocationList(
    {
      type: REVOCATIONS_TYPE,
      version: 1,
      issuer,
      sequence: (previous?.sequence ?? 0) + 1,
      issuedAt: time,
      nextUpdate: formatRfc3339(next),
      revoked,
    },
    o.key,
  );
}

const malformed = (why: string): never => fail("input", `malformed revocation list: ${why}`);

/** Parses a list strictly; a list without a signature is refused ("integrity"). Nothing is trusted yet. */
export function parseRevocationList(text: string): RevocationList {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return malformed("not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return malformed("not a JSON object");
  const o = json as Record<string, unknown>;
  if (o.type !== REVOCATIONS_TYPE) malformed(`"type" must be "${REVOCATIONS_TYPE}"`);
  if (o.version !== 1) malformed(`unsupported version ${JSON.stringify(o.version)}`);
  if (!("signature" in o)) fail("integrity", "the revocation list is not signed");
  const members = ["type", "version", "issuer", "sequence", "issuedAt", "nextUpdate", "revoked", "signature"];
  for (const k of Object.keys(o)) if (!members.includes(k)) malformed(`unknown member "${k}"`);
  for (const k of members) if (!(k in o)) malformed(`missing member "${k}"`);
  if (!isHex(o.issuer, 32)) malformed("issuer must be 64 lowercase hex digits");
  if (!isHex(o.signature, 64)) malformed("signature must be 128 lowercase hex digits");
  if (typeof o.sequence !== "number" || !Number.isSafeInteger(o.sequence) || o.sequence < 1) {
    malformed("sequence must be a positive integer");
  }
  const time = (v: unknown, what: string): string =>
    typeof v === "string" && parseRfc3339(v) !== undefined
      ? v
      : malformed(`${what} must be an RFC 3339 time`);
  time(o.issuedAt, "issuedAt");
  time(o.nextUpdate, "nextUpdate");
  if (!Array.isArray(o.revoked)) malformed("revoked must be an array");
  const ids = new Set<string>();
  for (const r of o.revoked as unknown[]) {
    if (typeof r !== "object" || r === null || Array.isArray(r))
      return malformed("each revoked entry is an object");
    const e = r as Record<string, unknown>;
    const ks = Object.keys(e).sort().join(",");
    if (ks !== "id,reason,time") malformed("each revoked entry is {id, reason, time}");
    if (!isHex(e.id, 16)) malformed("a revoked id must be 32 lowercase hex digits");
    if (ids.has(e.id as string)) malformed(`id ${e.id} is listed twice`);
    ids.add(e.id as string);
    if (typeof e.reason !== "string") malformed("a reason must be a string");
    time(e.time, "a revocation time");
  }
  return o as unknown as RevocationList;
}

export interface VerifyListOptions {
  /** The issuer the list must come from (64 hex). */
  issuer: string;
  now: number;
  /** The highest sequence already seen from this issuer, if any. */
  highestSeen?: number;
  graceMs?: number;
}

/**
 * Trusts a list only when the issuer signed it, it is not older than one already seen, and it is not
 * stale (now ≤ nextUpdate + grace). Refusals are "unauthorized" or "integrity" errors (exit 1).
 */
export function verifyRevocationList(list: RevocationList, o: VerifyListOptions): void {
  if (list.issuer !== o.issuer) {
    fail(
      "unauthorized",
      `the revocation list is signed by another key (${kid(fromHex(list.issuer))}, expected ${kid(fromHex(o.issuer))})`,
    );
  }
  if (!verify(fromHex(list.issuer), revocationSignedMessage(bodyOf(list)), fromHex(list.signature))) {
    fail("integrity", "the revocation list's signature does not verify: the list was edited");
  }
  if (o.highestSeen !== undefined && list.sequence < o.highestSeen) {
    fail(
      "unauthorized",
      `the revocation list was rolled back: sequence ${list.sequence} is lower than ${o.highestSeen}, already seen`,
    );
  }
  const issuedAt = parseRfc3339(list.issuedAt) as number;
  const nextUpdate = parseRfc3339(list.nextUpdate) as number;
  if (nextUpdate <= issuedAt)
    fail("integrity", "the revocation list's next update is not after its issue time");
  if (issuedAt > o.now + CLOCK_SKEW_MS)
    fail("unauthorized", `the revocation list is issued in the future (${list.issuedAt})`);
  const grace = o.graceMs ?? DEFAULT_GRACE_MS;
  if (o.now > nextUpdate + grace) {
    fail(
      "unauthorized",
      `the revocation list is stale: its next update was due at ${list.nextUpdate} (grace ${Math.round(grace / 3_600_000)} h)`,
    );
  }
}

/** The list as pretty-printed JSON with a final newline. */
export const serializeRevocationList = (list: RevocationList): string => `${JSON.stringify(list, null, 2)}\n`;
