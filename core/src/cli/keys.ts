/** Keys named on the command line: files for secrets, strings or files for public keys. */
import { readFile } from "node:fs/promises";
import { fail } from "../errors.js";
import { parseRecipient } from "../keys/age.js";
import { parsePublicKey } from "../keys/ed25519.js";
import { loadKeyMaterial } from "../keys/keyfile.js";
import type { SigningKey } from "../pack.js";

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail("input", `cannot read ${what} ${path}: ${code === "ENOENT" ? "no such file" : code}`);
  }
}

export async function loadSigningKey(path: string): Promise<SigningKey> {
  const material = loadKeyMaterial(await readText(path, "signing key"));
  if (!material.signing) fail("input", `${path} holds no Ed25519 signing key`);
  return material.signing as SigningKey;
}

export async function loadIdentities(paths: string[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const p of paths) {
    const material = loadKeyMaterial(await readText(p, "identity"));
    if (material.identities.length === 0) fail("input", `${p} holds no X25519 identity`);
    out.push(...material.identities);
  }
  return out;
}

/** `age1…` strings, or files holding recipients (one per line) or Q-Cap key files. */
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
      const material = loadKeyMaterial(text);
      if (material.recipients.length === 0) fail("input", `${a} holds no recipient`);
      out.push(...material.recipients);
    }
  }
  return out;
}

/** A trusted issuer key: 64 hex characters, or a file with a PEM, hex or Q-Cap key. */
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
      const material = loadKeyMaterial(text);
      if (!material.signing) fail("input", `${a} holds no Ed25519 public key`);
      out.push((material.signing as SigningKey).publicKey);
    }
  }
  return out;
}
