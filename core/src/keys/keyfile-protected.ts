/**
 * Passphrase-protected Q-Cap key files (SPEC §8.2): the secret members are encrypted with
 * XChaCha20-Poly1305 under an Argon2id key; `public` stays in clear and is bound as associated data.
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { concatBytes, fromHex, isHex, randomBytes, toHex, utf8 } from "../crypto/bytes.js";
import {
  ARGON2_DEFAULTS,
  type Argon2Params,
  argon2Problem,
  argon2WrapKey,
  kid,
} from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { jcs } from "../jcs.js";
import { parseRecipient } from "./age.js";
import { parseHex32 } from "./ed25519-codec.js";
import {
  KEY_FILE_TYPE,
  type KeyFile,
  type KeyMaterial,
  keyFileFromMembers,
  loadKeyMaterial,
  parseKeyFile,
  serializeKeyFile,
} from "./keyfile.js";

const AAD_PREFIX = utf8("qcap/v1 key file\0");
const bad = (why: string): never => fail("input", `invalid key file: ${why}`);

export interface ProtectOptions {
  argon2?: Partial<Argon2Params>;
  /** @internal Fixed salt and nonce, only for reproducible test vectors. */
  salt?: Uint8Array;
  /** @internal */
  nonce?: Uint8Array;
}

/** The public members of a key file as written: `{ ed25519, recipient }`. */
export interface KeyFilePublic {
  ed25519: string;
  recipient: string;
}

/** The key file encrypted under `passphrase` (Argon2id defaults m = 64 MiB, t = 3, p = 1). */
export async function protectKeyFile(
  k: KeyFile,
  passphrase: string,
  opts: ProtectOptions = {},
): Promise<string> {
  if (typeof passphrase !== "string" || passphrase.length === 0) fail("usage", "the passphrase is empty");
  const clear = JSON.parse(serializeKeyFile(k)) as {
    signing: unknown;
    identity: string;
    public: KeyFilePublic;
  };
  const p: Argon2Params = { ...ARGON2_DEFAULTS, ...opts.argon2 };
  const problem = argon2Problem(p);
  if (problem !== undefined) fail("usage", problem);
  const salt = opts.salt ?? randomBytes(16);
  const nonce = opts.nonce ?? randomBytes(24);
  const key = await argon2WrapKey(passphrase, salt, p, "usage");
  const plaintext = jcs({ identity: clear.identity, signing: clear.signing });
  const ciphertext = xchacha20poly1305(key, nonce, aad(clear.public)).encrypt(plaintext);
  plaintext.fill(0);
  const json = {
    type: KEY_FILE_TYPE,
    version: 1,
    protected: {
      kdf: "argon2id",
      salt: toHex(salt),
      m: p.m,
      t: p.t,
      p: p.p,
      nonce: toHex(nonce),
      ciphertext: toHex(ciphertext),
    },
    public: clear.public,
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

const aad = (pub: KeyFilePublic): Uint8Array => concatBytes(AAD_PREFIX, jcs(pub));

interface Parsed {
  protected: null | { salt: Uint8Array; params: Argon2Params; nonce: Uint8Array; ciphertext: Uint8Array };
  public: KeyFilePublic;
}

function members(x: unknown, where: string, names: readonly string[]): Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return bad(`${where} must be an object`);
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!names.includes(k)) bad(`unknown member ${JSON.stringify(k)} in ${where}`);
  for (const k of names) if (!(k in o)) bad(`missing member ${JSON.stringify(k)} in ${where}`);
  return o;
}

/** Parses the parts of a protected key file that need no passphrase; undefined for a clear file. */
function parseProtected(text: string): Parsed | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return bad("not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return bad("not a JSON object");
  if (!("protected" in json)) return undefined;
  const top = members(json, "the key file", ["type", "version", "protected", "public"]);
  if (top.type !== KEY_FILE_TYPE) return bad(`"type" must be "${KEY_FILE_TYPE}"`);
  if (top.version !== 1) {
    return fail(
      "input",
      `unsupported key file version ${JSON.stringify(top.version)} (this qcap reads version 1)`,
    );
  }
  const p = members(top.protected, '"protected"', ["kdf", "salt", "m", "t", "p", "nonce", "ciphertext"]);
  if (p.kdf !== "argon2id") return bad('"protected.kdf" must be "argon2id"');
  if (!isHex(p.salt, 16)) return bad('"protected.salt" must be 32 lowercase hex digits');
  if (!isHex(p.nonce, 24)) return bad('"protected.nonce" must be 48 lowercase hex digits');
  const ct = p.ciphertext;
  if (typeof ct !== "string" || ct.length < 34 || ct.length > 4096 || !isHex(ct, ct.length / 2)) {
    return bad('"protected.ciphertext" must be lowercase hex');
  }
  const params = { m: p.m, t: p.t, p: p.p } as Argon2Params;
  const problem = argon2Problem(params);
  if (problem !== undefined) bad(problem);
  const pub = members(top.public, '"public"', ["ed25519", "recipient"]);
  if (!isHex(pub.ed25519, 32)) return bad('"public.ed25519" must be 64 lowercase hex digits');
  if (typeof pub.recipient !== "string") return bad('"public.recipient" must be an age recipient string');
  parseRecipient(pub.recipient);
  return {
    protected: { salt: fromHex(p.salt), params, nonce: fromHex(p.nonce), ciphertext: fromHex(ct) },
    public: { ed25519: pub.ed25519, recipient: pub.recipient },
  };
}

/** True when `text` looks like a passphrase-protected Q-Cap key file (a JSON object with `protected`). */
export function isProtectedKeyFile(text: string): boolean {
  if (!text.trimStart().startsWith("{")) return false;
  try {
    const j = JSON.parse(text) as unknown;
    return typeof j === "object" && j !== null && !Array.isArray(j) && "protected" in j;
  } catch {
    return false;
  }
}

/**
 * Opens a key file, clear or protected. A wrong passphrase (or an edited file: the public members
 * are authenticated) is a "decrypt" error; anything malformed an "input" error. Never echoes secrets.
 */
export async function unlockKeyFile(text: string, passphrase: string): Promise<KeyFile> {
  const parsed = parseProtected(text);
  if (!parsed) return parseKeyFile(text);
  const prot = parsed.protected as NonNullable<Parsed["protected"]>;
  const key = await argon2WrapKey(passphrase, prot.salt, prot.params, "decrypt");
  let plain: Uint8Array;
  try {
    plain = xchacha20poly1305(key, prot.nonce, aad(parsed.public)).decrypt(prot.ciphertext);
  } catch {
    return fail("decrypt", "wrong passphrase for the key file (or the file was altered)");
  }
  let secrets: unknown;
  try {
    secrets = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    return bad("the protected secrets are not valid JSON");
  } finally {
    plain.fill(0);
  }
  const s = members(secrets, "the protected secrets", ["identity", "signing"]);
  return keyFileFromMembers(s.signing, s.identity, parsed.public);
}

/**
 * Like `loadKeyMaterial`, but opens a protected key file too, asking `passphrase()` only then.
 */
export async function loadKeyMaterialUnlocked(
  text: string,
  passphrase: () => Promise<string>,
): Promise<KeyMaterial> {
  if (!isProtectedKeyFile(text)) return loadKeyMaterial(text);
  const k = await unlockKeyFile(text, await passphrase());
  return { signing: k.signing, identities: [k.identity.secret], recipients: [k.identity.publicKey] };
}

/** The public keys a key file declares, readable without its passphrase. */
export function keyFilePublic(text: string): KeyFilePublic | undefined {
  const parsed = isProtectedKeyFile(text) ? parseProtected(text) : undefined;
  return parsed?.public;
}

/**
 * The short fingerprint of a public key (Ed25519 or X25519): `BLAKE3(key)[0:8]` as 16 hex digits,
 * the same function as a recipient's key id (SPEC §5.3).
 */
export function fingerprint(publicKey: Uint8Array): string {
  return kid(publicKey);
}

/** Fingerprint of a 64-hex Ed25519 public key as written in a key file. */
export const fingerprintHex = (ed25519: string): string => fingerprint(parseHex32(ed25519) as Uint8Array);
