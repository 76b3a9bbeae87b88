/**
 * Keys named on the command line: files for secrets, strings or files for public keys. Protected key
 * files are unlocked with QCAP_KEY_PASSPHRASE, QCAP_PASSPHRASE or a prompt; without a key argument,
 * commands fall back to the default key that `qcap init` wrote.
 */
import { access } from "node:fs/promises";
import { resolve } from "node:path";
import type { SigningKey } from "../capsule/pack.js";
import { fail } from "../errors.js";
import { MiB, readTextLimited } from "../io/limited-read-node.js";
import { parseRecipient } from "../keys/age.js";
import { parsePublicKey } from "../keys/ed25519.js";
import { type KeyMaterial, loadKeyMaterial } from "../keys/keyfile.js";
import { isProtectedKeyFile, keyFilePublic, loadKeyMaterialUnlocked } from "../keys/keyfile-protected.js";
import { defaultKeyPath } from "../node/config.js";
import { readPassphrase } from "./passphrase.js";

/** Environment variables a key file's passphrase is read from, in order. */
export const KEY_PASSPHRASE_ENV = ["QCAP_KEY_PASSPHRASE", "QCAP_PASSPHRASE"] as const;

/** Key and recipient files are small; larger inputs pass their own limit. */
export const MAX_KEY_FILE_BYTES = MiB;

/** A regular file of at most `maxBytes`, refused by its size before it is read. */
export function readText(path: string, what: string, maxBytes = MAX_KEY_FILE_BYTES): Promise<string> {
  return readTextLimited(path, what, maxBytes);
}

// One unlock per file and run: `--identity K --sign-key K` asks once and derives Argon2id once.
const unlocked = new Map<string, Promise<KeyMaterial>>();

/** The keys in a key file of any supported kind, unlocking a protected one. */
export function loadMaterial(path: string, what: string): Promise<KeyMaterial> {
  const at = resolve(path);
  let p = unlocked.get(at);
  if (!p) {
    p = readText(path, what).then((text) =>
      loadKeyMaterialUnlocked(text, () =>
        readPassphrase(`Passphrase for ${path}: `, false, KEY_PASSPHRASE_ENV),
      ),
    );
    unlocked.set(at, p);
  }
  return p;
}

async function defaultOr(path: string | undefined, flag: string): Promise<string> {
  if (path !== undefined) return path;
  const d = defaultKeyPath();
  try {
    await access(d);
  } catch {
    return fail("usage", `give ${flag} FILE, or run 'qcap init' to make a default key`);
  }
  return d;
}

/** A signing key from `path`, or from the default key when `path` is undefined. */
export async function loadSigningKey(path?: string, flag = "--sign-key"): Promise<SigningKey> {
  const file = await defaultOr(path, flag);
  const material = await loadMaterial(file, "signing key");
  if (!material.signing) fail("input", `${file} holds no Ed25519 signing key`);
  return material.signing as SigningKey;
}

/** X25519 identities from `paths`; the default key's when `paths` is empty and `useDefault`. */
export async function loadIdentities(paths: string[], useDefault = false): Promise<Uint8Array[]> {
  const files = paths.length === 0 && useDefault ? [await defaultOr(undefined, "--identity")] : paths;
  const out: Uint8Array[] = [];
  for (const p of files) {
    const material = await loadMaterial(p, "identity");
    if (material.identities.length === 0) fail("input", `${p} holds no X25519 identity`);
    out.push(...material.identities);
  }
  return out;
}

/** Public keys of a key file without unlocking it (a protected file declares them in clear). */
function publicMaterial(text: string): KeyMaterial {
  const pub = isProtectedKeyFile(text) ? keyFilePublic(text) : undefined;
  if (pub) {
    return {
      signing: { seed: new Uint8Array(0), publicKey: parsePublicKey(pub.ed25519) },
      identities: [],
      recipients: [parseRecipient(pub.recipient)],
    };
  }
  return loadKeyMaterial(text);
}

/** `age1…` strings, or files holding recipients (one per line) or key files (protected or not). */
export async function loadRecipients(args: string[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const a of args) {
    if (a.startsWith("age1")) {
      out.push(parseRecipient(a));
      continue;
    }
    const text = await readText(a, "recipient file");
    const lines = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    if (lines.length > 0 && lines.every((l) => l.startsWith("age1"))) {
      out.push(...lines.map(parseRecipient));
    } else {
      const material = publicMaterial(text);
      if (material.recipients.length === 0) fail("input", `${a} holds no recipient`);
      out.push(...material.recipients);
    }
  }
  return out;
}

/** A trusted issuer key: 64 hex characters, or a file with a PEM, hex or Q-Cap key (protected or not). */
export async function loadTrusted(args: string[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const a of args) {
    if (/^[0-9a-fA-F]{64}$/.test(a)) {
      out.push(parsePublicKey(a));
      continue;
    }
    const text = await readText(a, "public key");
    try {
      out.push(parsePublicKey(text));
    } catch {
      const material = publicMaterial(text);
      if (!material.signing) fail("input", `${a} holds no Ed25519 public key`);
      out.push((material.signing as SigningKey).publicKey);
    }
  }
  return out;
}
