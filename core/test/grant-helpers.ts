/** Shared fixtures of the grant tests: a sealed capsule with public and private files, and keys. */
import { ed25519 } from "@noble/curves/ed25519.js";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput } from "../src/capsule/pack.js";
import { plainChunks } from "../src/capsule/read.js";
import type { EntryKeys } from "../src/capsule/unlock.js";
import { concatBytes } from "../src/crypto/bytes.js";
import { bytesSource } from "../src/io/source.js";
import { generateIdentity } from "../src/keys/age.js";
import { packBytes, pseudoRandom, text } from "./helpers.js";

export const issuerKey = (() => {
  const seed = new Uint8Array(32).fill(11);
  return { seed, publicKey: ed25519.getPublicKey(seed) };
})();

/** The identity the capsule is sealed to (the publisher's). */
export const owner = generateIdentity();
export const alice = generateIdentity();
export const bob = generateIdentity();
export const mallory = generateIdentity();

export const files: Record<string, Uint8Array> = {
  "payload/public/readme.txt": text("public readme\n"),
  "payload/public/data/table.csv": pseudoRandom(70_000, 3),
  "payload/public/notes.md": text("# notes\n"),
  "payload/private/secret.txt": text("the secret\n"),
  "payload/private/keys/deep.bin": pseudoRandom(1000, 4),
};

export async function sealedCapsule(opts: { hideNames?: boolean } = {}): Promise<Capsule> {
  const bytes = await packBytes(
    Object.entries(files).map(([n, b]) => bytesInput(n, b)),
    { signingKey: issuerKey, recipients: [owner.publicKey], hideNames: opts.hideNames ?? false },
  );
  return Capsule.open(bytesSource(bytes));
}

/** Reads a whole entry through the verified read path. */
export async function read(capsule: Capsule, entry: string, keys?: EntryKeys): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of plainChunks(capsule, entry, keys)) parts.push(c);
  return concatBytes(...parts);
}
