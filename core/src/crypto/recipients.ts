/** Wrapping of the master key for recipients (SPEC §5.3). */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { fail } from "../errors.js";
import { assertBytes, concatBytes, fromHex, isAllZero, isHex, randomBytes, toHex, utf8 } from "./bytes.js";
import { CAPSULE_ID_BYTES, hkdf32, MASTER_KEY_BYTES } from "./kdf.js";

export type X25519Stanza = { type: "x25519"; kid: string; epk: string; wrappedKey: string };
export type Argon2idStanza = {
  type: "argon2id";
  salt: string;
  m: number;
  t: number;
  p: number;
  wrappedKey: string;
};
export type Stanza = X25519Stanza | Argon2idStanza;

export interface Argon2Params {
  /** Memory in KiB. */
  m: number;
  /** Passes. */
  t: number;
  /** Lanes. */
  p: number;
}

export const ARGON2_DEFAULTS: Readonly<Argon2Params> = Object.freeze({ m: 65536, t: 3, p: 1 });
/** Reader limits of §5.3, checked before deriving anything. */
// 1 GiB: the most hash-wasm can derive under Node 20, and a bound on what a capsule can make a reader spend.
export const ARGON2_LIMITS: Readonly<Argon2Params> = Object.freeze({ m: 1048576, t: 16, p: 16 });

/**
 * Readers refuse a seal with more recipient stanzas than this (§5.3) before deriving anything, so a
 * capsule cannot make them try thousands of stanzas; writers refuse to write more.
 */
export const MAX_RECIPIENTS = 256;

const WRAPPED_BYTES = MASTER_KEY_BYTES + 16;
const ZERO_NONCE = new Uint8Array(12);
const X25519_INFO = utf8("qcap/v1 x25519");

/** Key id of a recipient public key: `BLAKE3(pub)[0:8]` as 16 hex digits. */
export function kid(publicKey: Uint8Array): string {
  assertBytes(publicKey, 32, "public key");
  return toHex(blake3(publicKey).subarray(0, 8));
}

function wrap(wrapKey: Uint8Array, capsuleId: Uint8Array, masterKey: Uint8Array): string {
  return toHex(chacha20poly1305(wrapKey, ZERO_NONCE, capsuleId).encrypt(masterKey));
}

function unwrap(wrapKey: Uint8Array, capsuleId: Uint8Array, wrappedKey: string): Uint8Array | null {
  try {
    return chacha20poly1305(wrapKey, ZERO_NONCE, capsuleId).decrypt(fromHex(wrappedKey));
  } catch {
    return null;
  }
}

function checkWrapInputs(masterKey: Uint8Array, capsuleId: Uint8Array): void {
  assertBytes(masterKey, MASTER_KEY_BYTES, "masterKey");
  assertBytes(capsuleId, CAPSULE_ID_BYTES, "capsuleId");
}

/** X25519 that returns null instead of an all-zero (low-order) shared secret. */
function sharedSecret(secret: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(secret, publicKey);
  } catch {
    return null; // noble refuses low-order points itself
  }
  return isAllZero(shared) ? null : shared;
}

const x25519WrapKey = (shared: Uint8Array, epk: Uint8Array, recipient: Uint8Array, info = X25519_INFO) =>
  hkdf32(shared, concatBytes(epk, recipient), info);

/**
 * The sender side of the §5.3 X25519 construction under another HKDF `info` label (grants use their
 * own): `epk = X25519(e, 9)`, `wrapKey = HKDF(X25519(e, recipient), epk || recipient, info)`.
 */
export function x25519SenderKey(
  recipientPublic: Uint8Array,
  ephemeralSecret: Uint8Array,
  info: Uint8Array,
): { epk: Uint8Array; wrapKey: Uint8Array } {
  assertBytes(recipientPublic, 32, "recipient public key");
  assertBytes(ephemeralSecret, 32, "ephemeral secret");
  const epk = x25519.getPublicKey(ephemeralSecret);
  const shared =
    sharedSecret(ephemeralSecret, recipientPublic) ??
    fail("input", "invalid x25519 recipient: a low-order public key gives an all-zero shared secret");
  return { epk, wrapKey: x25519WrapKey(shared, epk, recipientPublic, info) };
}

/** The receiver side of `x25519SenderKey`; null when the shared secret is all zero. */
export function x25519ReceiverKey(
  identitySecret: Uint8Array,
  epk: Uint8Array,
  info: Uint8Array,
): Uint8Array | null {
  assertBytes(identitySecret, 32, "identity");
  assertBytes(epk, 32, "epk");
  const shared = sharedSecret(identitySecret, epk);
  return shared === null ? null : x25519WrapKey(shared, epk, x25519.getPublicKey(identitySecret), info);
}

/** Wraps `masterKey` to an X25519 recipient with a fresh ephemeral key. */
export function wrapToX25519(
  masterKey: Uint8Array,
  capsuleId: Uint8Array,
  recipientPublic: Uint8Array,
): Stanza {
  return wrapToX25519WithEphemeral(masterKey, capsuleId, recipientPublic, x25519.utils.randomSecretKey());
}

/** @internal Deterministic form of `wrapToX25519` for test vectors: never reuse an ephemeral secret. */
export function wrapToX25519WithEphemeral(
  masterKey: Uint8Array,
  capsuleId: Uint8Array,
  recipientPublic: Uint8Array,
  ephemeralSecret: Uint8Array,
): X25519Stanza {
  checkWrapInputs(masterKey, capsuleId);
  assertBytes(recipientPublic, 32, "recipient public key");
  assertBytes(ephemeralSecret, 32, "ephemeral secret");
  const epk = x25519.getPublicKey(ephemeralSecret);
  const shared =
    sharedSecret(ephemeralSecret, recipientPublic) ??
    fail("input", "invalid x25519 recipient: a low-order public key gives an all-zero shared secret");
  const wrapKey = x25519WrapKey(shared, epk, recipientPublic);
  return {
    type: "x25519",
    kid: kid(recipientPublic),
    epk: toHex(epk),
    wrappedKey: wrap(wrapKey, capsuleId, masterKey),
  };
}

/**
 * The master key from an x25519 stanza, or null when the stanza is not for this identity
 * (another type or key id) or does not authenticate under it.
 */
export function unwrapX25519(
  stanza: Stanza,
  capsuleId: Uint8Array,
  identitySecret: Uint8Array,
): Uint8Array | null {
  assertBytes(capsuleId, CAPSULE_ID_BYTES, "capsuleId");
  assertBytes(identitySecret, 32, "identity");
  if (stanza.type !== "x25519") return null;
  const s = validateStanza(stanza) as X25519Stanza;
  const pub = x25519.getPublicKey(identitySecret);
  if (s.kid !== kid(pub)) return null;
  const epk = fromHex(s.epk);
  const shared = sharedSecret(identitySecret, epk);
  if (shared === null) return null;
  return unwrap(x25519WrapKey(shared, epk, pub), capsuleId, s.wrappedKey);
}

/** Why Argon2id parameters are outside the §5.3 limits, or undefined when they are within them. */
export function argon2Problem(p: Argon2Params): string | undefined {
  for (const k of ["m", "t", "p"] as const) {
    if (!Number.isSafeInteger(p[k]) || p[k] < 1) return `argon2id ${k} must be a positive integer`;
    if (p[k] > ARGON2_LIMITS[k]) return `argon2id ${k} = ${p[k]} exceeds the limit ${ARGON2_LIMITS[k]}`;
  }
  if (p.m < 8 * p.p) return `argon2id m = ${p.m} is below 8 * p = ${8 * p.p} KiB`;
  return undefined;
}

/**
 * `Argon2id(utf8(NFC(passphrase)), salt, m, t, p, 32)` (§5.3). The caller checks the parameters with
 * `argon2Problem` first; a failed derivation (memory) is a QcapError of kind `onError`.
 */
export async function argon2WrapKey(
  passphrase: string,
  salt: Uint8Array,
  p: Argon2Params,
  onError: "usage" | "decrypt",
): Promise<Uint8Array> {
  // Loaded on first use: hash-wasm costs ~45 ms and ~11 MiB at start-up, and most runs never need it.
  const { argon2id } = await import("hash-wasm");
  try {
    return await argon2id({
      // NFC, so the same typed passphrase gives the same key on every system.
      password: utf8(passphrase.normalize("NFC")),
      salt,
      parallelism: p.p,
      iterations: p.t,
      memorySize: p.m,
      hashLength: 32,
      outputType: "binary",
    });
  } catch (e) {
    // In practice: memory. WebAssembly (hash-wasm) cannot allocate much more than 1 GiB.
    return fail(onError, `argon2id with m = ${p.m} KiB failed here: ${(e as Error).message}`, e);
  }
}

/** Wraps `masterKey` under a passphrase with Argon2id (defaults m = 64 MiB, t = 3, p = 1). */
export function wrapToPassphrase(
  masterKey: Uint8Array,
  capsuleId: Uint8Array,
  passphrase: string,
  params?: { m?: number; t?: number; p?: number },
): Promise<Stanza> {
  return wrapToPassphraseWithSalt(masterKey, capsuleId, passphrase, params, randomBytes(16));
}

/** @internal Deterministic form of `wrapToPassphrase` for test vectors: never reuse a salt. */
export async function wrapToPassphraseWithSalt(
  masterKey: Uint8Array,
  capsuleId: Uint8Array,
  passphrase: string,
  params: { m?: number; t?: number; p?: number } | undefined,
  salt: Uint8Array,
): Promise<Argon2idStanza> {
  checkWrapInputs(masterKey, capsuleId);
  assertBytes(salt, 16, "salt");
  if (typeof passphrase !== "string" || passphrase.length === 0) fail("usage", "the passphrase is empty");
  const p: Argon2Params = { ...ARGON2_DEFAULTS, ...params };
  const problem = argon2Problem(p);
  if (problem !== undefined) fail("usage", problem);
  const wrapKey = await argon2WrapKey(passphrase, salt, p, "usage");
  return {
    type: "argon2id",
    salt: toHex(salt),
    m: p.m,
    t: p.t,
    p: p.p,
    wrappedKey: wrap(wrapKey, capsuleId, masterKey),
  };
}

/**
 * The master key from an argon2id stanza, or null for another type or a wrong passphrase. The
 * stanza's cost parameters are checked against the §5.3 limits before anything is derived.
 */
export async function unwrapPassphrase(
  stanza: Stanza,
  capsuleId: Uint8Array,
  passphrase: string,
): Promise<Uint8Array | null> {
  assertBytes(capsuleId, CAPSULE_ID_BYTES, "capsuleId");
  if (stanza.type !== "argon2id") return null;
  const s = validateStanza(stanza) as Argon2idStanza;
  const wrapKey = await argon2WrapKey(passphrase, fromHex(s.salt), s, "decrypt");
  return unwrap(wrapKey, capsuleId, s.wrappedKey);
}

const STANZA_MEMBERS = {
  x25519: ["type", "kid", "epk", "wrappedKey"],
  argon2id: ["type", "salt", "m", "t", "p", "wrappedKey"],
} as const;

/**
 * Checks a parsed recipient stanza strictly: known type, exactly its members, lowercase hex of the
 * right lengths, Argon2id parameters within the §5.3 limits. Anything else is a "format" error.
 */
export function validateStanza(x: unknown): Stanza {
  const bad = (why: string): never => fail("format", `invalid recipient stanza: ${why}`);
  if (typeof x !== "object" || x === null || Array.isArray(x)) return bad("not an object");
  const o = x as Record<string, unknown>;
  const type = o.type;
  if (type !== "x25519" && type !== "argon2id") {
    return bad(typeof type === "string" ? `unknown type ${JSON.stringify(type)}` : "missing type");
  }
  const expected: readonly string[] = STANZA_MEMBERS[type];
  for (const k of Object.keys(o))
    if (!expected.includes(k)) bad(`unknown member ${JSON.stringify(k)} in ${type}`);
  for (const k of expected) if (!(k in o)) bad(`missing member ${JSON.stringify(k)} in ${type}`);
  const hexMember = (k: string, bytes: number): string =>
    isHex(o[k], bytes) ? o[k] : bad(`${type} ${k} must be ${2 * bytes} lowercase hex digits`);
  if (type === "x25519") {
    return {
      type,
      kid: hexMember("kid", 8),
      epk: hexMember("epk", 32),
      wrappedKey: hexMember("wrappedKey", WRAPPED_BYTES),
    };
  }
  const salt = hexMember("salt", 16);
  const wrappedKey = hexMember("wrappedKey", WRAPPED_BYTES);
  const params = { m: o.m, t: o.t, p: o.p } as Argon2Params;
  const problem = argon2Problem(params);
  if (problem !== undefined) bad(problem);
  return { type, salt, m: params.m, t: params.t, p: params.p, wrappedKey };
}
