/** Turning keys into the per-entry keys of a sealed capsule (SPEC §5.1, §5.3, §5.4). */
import { x25519 } from "@noble/curves/ed25519.js";
import { fileKeyDeriver, fileKeyPrk, keyCommitment, namesKey } from "../crypto/kdf.js";
import { kid, unwrapPassphrase, unwrapX25519 } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { hiddenZipName, openSealedName } from "../format/hidden-names.js";
import { equalBytes, fromHex } from "../hash/hex.js";
import type { Capsule, CapsuleEntry } from "./capsule.js";

export interface Keyring {
  /** X25519 identity secrets (32 bytes each). */
  identities?: Uint8Array[];
  passphrase?: string;
}

/** Keys for the entries of one sealed capsule. */
export interface EntryKeys {
  capsuleId: Uint8Array;
  /** The key of an entry, or null when these keys do not cover it. */
  fileKey(name: string): Uint8Array | null;
  /**
   * With keys from the master key: HKDF's extract step of every file key (SPEC §5.1), so that the
   * native kernels derive the keys of a batch of entries themselves. A secret.
   */
  prk?: Uint8Array;
}

/** Stanza trials between two returns to the event loop. */
const YIELD_EVERY = 8;

/** Lets pending events (a signal, a timer) run in the middle of a long synchronous computation. */
export const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (globalThis.setImmediate ?? setTimeout)(resolve));

export async function unlockMasterKey(capsule: Capsule, keyring: Keyring): Promise<Uint8Array> {
  const seal = capsule.manifest.seal;
  if (!seal) return fail("usage", "the capsule is not sealed");
  const capsuleId = fromHex(seal.capsuleId, 16);
  const commitment = fromHex(seal.commitment, 32);
  // A stanza that unwraps to anything but the committed key is forged: refuse rather than try others.
  const committed = (key: Uint8Array): Uint8Array => {
    if (!equalBytes(keyCommitment(key, capsuleId), commitment)) {
      fail("integrity", "a recipient stanza unwraps to a key the issuer did not commit to");
    }
    return key;
  };
  const ids = keyring.identities ?? [];
  // Key ids first: a stanza is tried (one X25519 each) only with the identity it names.
  const kids = ids.map((id) => kid(x25519.getPublicKey(id)));
  let tried = 0;
  for (const stanza of seal.recipients) {
    if (stanza.type === "x25519") {
      for (const [i, id] of ids.entries()) {
        if (stanza.kid !== kids[i]) continue;
        // The work is bounded (MAX_RECIPIENTS), and yielding lets SIGINT and SIGTERM end it.
        if (++tried % YIELD_EVERY === 0) await yieldToEventLoop();
        const key = unwrapX25519(stanza, capsuleId, id);
        if (key) return committed(key);
      }
    } else if (keyring.passphrase !== undefined) {
      const key = await unwrapPassphrase(stanza, capsuleId, keyring.passphrase);
      if (key) return committed(key);
    }
  }
  const hasPass = seal.recipients.some((r) => r.type === "argon2id");
  if (keyring.passphrase !== undefined && ids.length === 0) {
    return fail("decrypt", hasPass ? "wrong passphrase" : "the capsule has no passphrase recipient");
  }
  return fail("decrypt", "none of the given identities is a recipient of this capsule");
}

export function masterEntryKeys(capsule: Capsule, masterKey: Uint8Array): EntryKeys {
  const capsuleId = fromHex((capsule.manifest.seal ?? fail("usage", "not sealed")).capsuleId, 16);
  // The extract step runs once: each entry's key is then one HMAC.
  return { capsuleId, fileKey: fileKeyDeriver(masterKey, capsuleId), prk: fileKeyPrk(masterKey, capsuleId) };
}

/**
 * The real names of payload entries, keyed by their ZIP names. Without hidden names they are the
 * same; with them, each entry's sealed name is opened with the master key.
 */
export function realNames(capsule: Capsule, masterKey?: Uint8Array): Promise<Map<string, string>> {
  return capsule.realNames(masterKey);
}

/**
 * Both ways between an entry's ZIP name and its real name, one entry at a time: the same name, or
 * with hidden names of version 2 the sealed name opened (and the keyed hash made) with the master
 * key, so that no map of every name is held. `forget` zeroes the names key once done.
 */
export function entryNames(
  capsule: Capsule,
  masterKey?: Uint8Array,
): { realName(e: CapsuleEntry): string; zipName(realName: string): string; forget(): void } {
  const seal = capsule.manifest.seal;
  if (!seal?.hiddenNames) return { realName: (e) => e.name, zipName: (name) => name, forget: () => {} };
  if (capsule.version !== 2 || !masterKey) throw new Error("entryNames: needs version 2 and the master key");
  const key = namesKey(masterKey, fromHex(seal.capsuleId, 16));
  const hidden = (name: string) => name.startsWith("payload/");
  return {
    realName: (e) => (hidden(e.name) ? openSealedName(key, e.name, e.sealedName) : e.name),
    zipName: (name) => (hidden(name) ? hiddenZipName(key, name) : name),
    forget: () => key.fill(0),
  };
}

/**
 * The ZIP name of the payload entry whose real name is `realName`: itself, or with hidden names
 * (version 2) the keyed hash of it. Null for hidden names of version 1, which have no such rule.
 */
export function zipNameOf(capsule: Capsule, realName: string, masterKey?: Uint8Array): string | null {
  const seal = capsule.manifest.seal;
  if (!seal?.hiddenNames || !realName.startsWith("payload/")) return realName;
  if (capsule.version !== 2 || !masterKey) return null;
  const key = namesKey(masterKey, fromHex(seal.capsuleId, 16));
  try {
    return hiddenZipName(key, realName);
  } finally {
    key.fill(0);
  }
}
