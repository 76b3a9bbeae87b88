/**
 * The Q-Cap key file, version 1: one JSON file holding a signing key and an age identity.
 *
 * ```json
 * {
 *   "type": "qcap-key",
 *   "version": 1,
 *   "signing": { "ed25519": "<64 hex: seed>" },
 *   "identity": "AGE-SECRET-KEY-1…",
 *   "public": { "ed25519": "<64 hex>", "recipient": "age1…" }
 * }
 * ```
 *
 * The secrets (`signing`, `identity`) are either clear members, as above, or replaced by one
 * `"protected"` member holding them encrypted under a passphrase (SPEC §8.2), never both. `public`
 * always stays in clear, so public keys can be shown without the passphrase. The synchronous parsers
 * here refuse a protected file; `unlockKeyFile` (in `keyfile-protected.ts`) opens it.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { equalBytes, isHex, toHex } from "../crypto/bytes.js";
import { fail, QcapError } from "../errors.js";
import {
  encodeIdentity,
  encodeRecipient,
  generateIdentity,
  parseIdentity,
  parseRecipient,
  x25519PublicFromSecret,
} from "./age.js";
import {
  looksLikePem,
  parseHex32,
  parsePkcs8Pem,
  type SigningKey,
  signingKeyFromSeed,
} from "./ed25519-codec.js";

export const KEY_FILE_TYPE = "qcap-key";

export interface Identity {
  secret: Uint8Array;
  publicKey: Uint8Array;
}

export interface KeyFile {
  signing: SigningKey;
  identity: Identity;
  /** The public keys as written in the file: Ed25519 as 64 hex digits, the recipient as `age1…`. */
  public: { ed25519: string; recipient: string };
}

export interface KeyMaterial {
  signing?: SigningKey;
  /** X25519 identity secrets. */
  identities: Uint8Array[];
  /** The X25519 public keys of `identities`, in the same order. */
  recipients: Uint8Array[];
}

function keyFile(signing: SigningKey, identity: Identity): KeyFile {
  return {
    signing,
    identity,
    public: { ed25519: toHex(signing.publicKey), recipient: encodeRecipient(identity.publicKey) },
  };
}

export function generateKeyFile(): KeyFile {
  return keyFile(signingKeyFromSeed(ed25519.utils.randomSecretKey()), generateIdentity());
}

/** The key file as pretty-printed JSON with a final newline (public keys derived from the secrets). */
export function serializeKeyFile(k: KeyFile): string {
  const { public: pub } = keyFile(signingKeyFromSeed(k.signing.seed), {
    secret: k.identity.secret,
    publicKey: x25519PublicFromSecret(k.identity.secret),
  });
  const json = {
    type: KEY_FILE_TYPE,
    version: 1,
    signing: { ed25519: toHex(k.signing.seed) },
    identity: encodeIdentity(k.identity.secret),
    public: pub,
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

const bad = (why: string): never => fail("input", `invalid key file: ${why}`);

function asObject(x: unknown, where: string, members: readonly string[]): Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return bad(`${where} must be an object`);
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!members.includes(k)) bad(`unknown member ${JSON.stringify(k)} in ${where}`);
  for (const k of members) if (!(k in o)) bad(`missing member ${JSON.stringify(k)} in ${where}`);
  return o;
}

/** Parses a key file strictly and checks that its public keys belong to its secrets. */
export function parseKeyFile(text: string): KeyFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message may quote the text, which holds secrets: never pass it on.
    return bad("not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return bad("not a JSON object");
  const top = json as Record<string, unknown>;
  if (top.type !== KEY_FILE_TYPE) return bad(`"type" must be "${KEY_FILE_TYPE}"`);
  if (top.version !== 1) {
    return fail(
      "input",
      `unsupported key file version ${JSON.stringify(top.version)} (this qcap reads version 1)`,
    );
  }
  if ("protected" in top) {
    return fail("input", "this key file is passphrase-protected: it must be unlocked with its passphrase");
  }
  const o = asObject(top, "the key file", ["type", "version", "signing", "identity", "public"]);
  return keyFileFromMembers(o.signing, o.identity, o.public);
}

/**
 * Checks the secret members (`signing`, `identity`) and the `public` member of a key file, clear or
 * decrypted from `protected`, and that the public keys belong to the secrets.
 */
export function keyFileFromMembers(
  signingMember: unknown,
  identityMember: unknown,
  publicMember: unknown,
): KeyFile {
  const o = { signing: signingMember, identity: identityMember };
  const signing = asObject(o.signing, '"signing"', ["ed25519"]);
  const pub = asObject(publicMember, '"public"', ["ed25519", "recipient"]);

  if (!isHex(signing.ed25519, 32)) return bad('"signing.ed25519" must be 64 lowercase hex digits');
  const signingKey = signingKeyFromSeed(parseHex32(signing.ed25519) as Uint8Array);
  if (typeof o.identity !== "string") return bad('"identity" must be an age identity string');
  const secret = parseIdentity(o.identity);
  const identity = { secret, publicKey: x25519PublicFromSecret(secret) };

  if (!isHex(pub.ed25519, 32)) return bad('"public.ed25519" must be 64 lowercase hex digits');
  if (!equalBytes(parseHex32(pub.ed25519) as Uint8Array, signingKey.publicKey)) {
    return bad('"public.ed25519" is not the public key of "signing.ed25519"');
  }
  if (typeof pub.recipient !== "string") return bad('"public.recipient" must be an age recipient string');
  if (
    !equalBytes(parseRecipient(pub.recipient), identity.publicKey) ||
    pub.recipient.trim() !== pub.recipient
  ) {
    return bad('"public.recipient" is not the recipient of "identity"');
  }
  return keyFile(signingKey, identity);
}

/**
 * Keys from any supported text: a Q-Cap key file, an age identity file (`AGE-SECRET-KEY-1…` lines,
 * `#` comments and blank lines ignored, as `age-keygen` writes), a PKCS#8 PEM Ed25519 private key,
 * or a 64-hex Ed25519 seed.
 */
export function loadKeyMaterial(text: string): KeyMaterial {
  const t = text.trim();
  if (t.startsWith("{")) {
    const k = parseKeyFile(text);
    return { signing: k.signing, identities: [k.identity.secret], recipients: [k.identity.publicKey] };
  }
  if (looksLikePem(t))
    return { signing: signingKeyFromSeed(parsePkcs8Pem(t)), identities: [], recipients: [] };
  const seed = parseHex32(t);
  if (seed) return { signing: signingKeyFromSeed(seed), identities: [], recipients: [] };

  const lines = text
    .split(/\r?\n/)
    .map((l, i) => ({ l: l.trim(), n: i + 1 }))
    .filter(({ l }) => l !== "" && !l.startsWith("#"));
  if (lines.length > 0 && lines.every(({ l }) => l.startsWith("AGE-"))) {
    const identities = lines.map(({ l, n }) => {
      if (l.startsWith("AGE-PLUGIN-")) fail("input", `age plugin identities are not supported (line ${n})`);
      try {
        return parseIdentity(l);
      } catch (e) {
        if (e instanceof QcapError) fail("input", `${e.message} (line ${n})`);
        throw e;
      }
    });
    return { identities, recipients: identities.map(x25519PublicFromSecret) };
  }
  return fail(
    "input",
    "unrecognized key (expected a Q-Cap key file, an age identity file, a PKCS#8 PEM Ed25519 private key, or 64 hex digits)",
  );
}
