/**
 * Macaroons (SPEC §11.1): HMAC-SHA256 chains with libmacaroons' key derivation, in the libmacaroons
 * v2 JSON serialization, so pymacaroons, libmacaroons and go-macaroon read them and, given the root
 * key, verify them. Only first-party caveats exist here: a third-party caveat fails closed.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64urlnopad } from "@scure/base";
import { assertBytes, equalBytes, utf8 } from "../crypto/bytes.js";
import { fail } from "../errors.js";

export interface Macaroon {
  /** The `l` hint; not authenticated by the chain. */
  location: string | null;
  identifier: Uint8Array;
  /** First-party caveat predicates, in chain order. */
  caveats: Uint8Array[];
  /** The 32-byte chain signature. */
  signature: Uint8Array;
}

/** The libmacaroons v2 JSON object. Binary fields use `…64` (unpadded base64url) when not UTF-8. */
export interface MacaroonV2Json {
  v: 2;
  l?: string;
  i?: string;
  i64?: string;
  c?: { i?: string; i64?: string }[];
  s?: string;
  s64?: string;
}

const KEY_GENERATOR = utf8("macaroons-key-generator");
const hmac256 = (key: Uint8Array, data: Uint8Array): Uint8Array => hmac(sha256, key, data);

/** libmacaroons' root key derivation: `HMAC-SHA256(key = "macaroons-key-generator", rootKey)`. */
export function derivedRootKey(rootKey: Uint8Array): Uint8Array {
  return hmac256(KEY_GENERATOR, rootKey);
}

/** A macaroon with no caveat: `signature = HMAC(derivedRootKey(rootKey), identifier)`. */
export function mintMacaroon(rootKey: Uint8Array, identifier: Uint8Array, location: string | null): Macaroon {
  assertBytes(rootKey, 32, "root key");
  return {
    location,
    identifier: identifier.slice(),
    caveats: [],
    signature: hmac256(derivedRootKey(rootKey), identifier),
  };
}

/** The chain continued from `signature` over `caveats`: `s' = HMAC(s, caveat)` for each. */
export function chainSignature(signature: Uint8Array, caveats: readonly Uint8Array[]): Uint8Array {
  let s = signature;
  for (const c of caveats) s = hmac256(s, c);
  return s;
}

/** A new macaroon with first-party caveats appended (needs only the current signature). */
export function appendCaveats(m: Macaroon, caveats: readonly Uint8Array[]): Macaroon {
  return {
    location: m.location,
    identifier: m.identifier,
    caveats: [...m.caveats, ...caveats.map((c) => c.slice())],
    signature: chainSignature(m.signature, caveats),
  };
}

/** True when the chain of `m` verifies under `rootKey` (constant-time comparison). */
export function verifyMacaroonChain(m: Macaroon, rootKey: Uint8Array): boolean {
  const start = hmac256(derivedRootKey(rootKey), m.identifier);
  return equalBytes(chainSignature(start, m.caveats), m.signature);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function textOrB64(bytes: Uint8Array): { text?: string; b64?: string } {
  try {
    return { text: strictUtf8.decode(bytes) };
  } catch {
    return { b64: base64urlnopad.encode(bytes) };
  }
}

/** The libmacaroons v2 JSON object of `m` (the `s` field is always binary, hence `s64`). */
export function encodeMacaroonV2(m: Macaroon): MacaroonV2Json {
  const out: MacaroonV2Json = { v: 2 };
  if (m.location !== null) out.l = m.location;
  const id = textOrB64(m.identifier);
  if (id.text !== undefined) out.i = id.text;
  else out.i64 = id.b64 as string;
  if (m.caveats.length > 0) {
    out.c = m.caveats.map((c) => {
      const x = textOrB64(c);
      return x.text !== undefined ? { i: x.text } : { i64: x.b64 as string };
    });
  }
  out.s64 = base64urlnopad.encode(m.signature);
  return out;
}

const bad = (why: string): never => fail("input", `malformed macaroon: ${why}`);

function field(o: Record<string, unknown>, name: string, what: string, required: boolean): Uint8Array | null {
  const t = o[name];
  const b = o[`${name}64`];
  if (t !== undefined && b !== undefined) return bad(`${what} has both "${name}" and "${name}64"`);
  if (t !== undefined) {
    if (typeof t !== "string") return bad(`${what} "${name}" must be a string`);
    return utf8(t);
  }
  if (b !== undefined) {
    if (typeof b !== "string" || !/^[A-Za-z0-9_-]*$/.test(b)) {
      return bad(`${what} "${name}64" must be unpadded base64url`);
    }
    try {
      return base64urlnopad.decode(b);
    } catch {
      return bad(`${what} "${name}64" must be unpadded base64url`);
    }
  }
  return required ? bad(`${what} has no "${name}"`) : null;
}

function only(o: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`unknown member "${k}" in ${what}`);
}

/**
 * Parses a libmacaroons v2 JSON macaroon strictly. Third-party caveats (with a `v` or `l` member) are
 * refused: this format has none, and a caveat that cannot be checked is never ignored.
 */
export function decodeMacaroonV2(x: unknown): Macaroon {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return bad("not a JSON object");
  const o = x as Record<string, unknown>;
  if (o.v !== 2) return bad(`unsupported version ${JSON.stringify(o.v)} (expected 2)`);
  only(o, ["v", "l", "i", "i64", "c", "s", "s64"], "the macaroon");
  if (o.l !== undefined && typeof o.l !== "string") bad('"l" must be a string');
  const identifier = field(o, "i", "the macaroon", true) as Uint8Array;
  if (o.c !== undefined && !Array.isArray(o.c)) bad('"c" must be an array');
  const caveats = ((o.c as unknown[] | undefined) ?? []).map((c, n) => {
    const what = `caveat ${n + 1}`;
    if (typeof c !== "object" || c === null || Array.isArray(c)) return bad(`${what} is not an object`);
    const co = c as Record<string, unknown>;
    if (["v", "v64", "l", "l64"].some((k) => k in co)) {
      return fail(
        "unauthorized",
        `${what} is a third-party caveat, which qcap does not support: refusing it`,
      );
    }
    only(co, ["i", "i64"], what);
    return field(co, "i", what, true) as Uint8Array;
  });
  const signature = field(o, "s", "the macaroon", true) as Uint8Array;
  if (signature.length !== 32) bad("the signature must be 32 bytes");
  return { location: (o.l as string | undefined) ?? null, identifier, caveats, signature };
}
