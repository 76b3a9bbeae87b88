/**
 * Version 1 capsules, read only: the whole manifest and central directory are loaded, and the
 * layout they imply is compared with the file before any entry is handed out.
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import type { CapsuleEntry, CapsuleHeader, EntryIndex } from "../capsule/types.js";
import { namesKey } from "../crypto/kdf.js";
import { fail } from "../errors.js";
import { MANIFEST_NAME, SIGNATURE_NAME } from "../format/manifest.js";
import { crc32 } from "../hash/crc32.js";
import { equalBytes, fromHex } from "../hash/hex.js";
import { indexSize } from "../integrity/tree.js";
import type { RangeSource } from "../io/source.js";
import { computeLayout, type PlacedEntry, type ZipEntrySpec } from "../zip/layout.js";
import { checkNameSet, validateEntryName } from "../zip/names.js";
import type { CentralDirectory } from "../zip/reader.js";
import { readEntryData } from "../zip/reader.js";
import { entryStoredSize, hiddenName, type Manifest, parseManifest, storedChunkSize } from "./manifest.js";

const MAX_MANIFEST = 512 * 1024 * 1024;

/** The signed bytes of a version 1 capsule, read before anything is trusted. */
export async function readV1Signed(
  source: RangeSource,
  cd: CentralDirectory,
): Promise<{ manifestBytes: Uint8Array; signature: Uint8Array }> {
  const n = cd.entries.length;
  const mEntry = cd.entries[n - 2];
  const sEntry = cd.entries[n - 1];
  if (!mEntry || !sEntry || mEntry.name !== MANIFEST_NAME || sEntry.name !== SIGNATURE_NAME) {
    fail("format", "not a capsule: manifest.json and its signature must be the last entries");
  }
  if (mEntry.size > MAX_MANIFEST) fail("format", "manifest.json is too large");
  if (sEntry.size !== 64) fail("format", "signature entry must be 64 bytes");
  return {
    manifestBytes: await readEntryData(source, mEntry),
    signature: await readEntryData(source, sEntry),
  };
}

const parseCrc = (hex: string): number => new DataView(fromHex(hex, 4).buffer).getUint32(0, false);

/** The index of a version 1 capsule whose signature was checked: parsed and its layout compared. */
export function openV1(
  source: RangeSource,
  cd: CentralDirectory,
  manifestBytes: Uint8Array,
  signature: Uint8Array,
): { header: CapsuleHeader; index: EntryIndex } {
  const manifest = parseManifest(manifestBytes);
  const sealed = manifest.seal !== null;
  const specs: ZipEntrySpec[] = [];
  for (const e of manifest.entries) {
    specs.push({ name: e.name, size: entryStoredSize(e, sealed), crc32: parseCrc(e.crc32), mode: e.mode });
    if (e.indexCrc32 !== undefined) {
      specs.push({
        name: `index/${e.name}`,
        size: indexSize(entryStoredSize(e, sealed), storedChunkSize(e.name, sealed)),
        crc32: parseCrc(e.indexCrc32),
        mode: 0o644,
      });
    }
  }
  specs.push({ name: MANIFEST_NAME, size: manifestBytes.length, crc32: crc32(manifestBytes), mode: 0o644 });
  specs.push({ name: SIGNATURE_NAME, size: 64, crc32: crc32(signature), mode: 0o644 });
  const layout = computeLayout(specs);
  if (
    layout.totalSize !== source.size ||
    layout.centralDirectoryOffset !== cd.offset ||
    !equalBytes(layout.centralDirectory, cd.bytes) ||
    !equalBytes(layout.end, cd.end)
  ) {
    fail("integrity", "the archive layout does not match the signed manifest");
  }
  const entries = new Map<string, CapsuleEntry>();
  let at = 0;
  for (const e of manifest.entries) {
    const placed = layout.entries[at++] as PlacedEntry;
    const index = e.indexCrc32 !== undefined ? (layout.entries[at++] as PlacedEntry) : null;
    entries.set(e.name, {
      name: e.name,
      size: e.size,
      mode: e.mode,
      digest: fromHex(e.digest, 32),
      stored: placed.size,
      chunkSize: storedChunkSize(e.name, sealed),
      placed,
      index,
      sealedName: new Uint8Array(0),
    });
  }
  const header: CapsuleHeader = {
    qcap: 1,
    issuer: manifest.issuer,
    entries: manifest.entries.length,
    root: manifest.root,
    seal: manifest.seal && {
      aead: manifest.seal.aead,
      capsuleId: manifest.seal.capsuleId,
      commitment: manifest.seal.commitment,
      recipients: manifest.seal.recipients,
      hiddenNames: manifest.seal.names !== null,
    },
  };
  const index: EntryIndex = {
    checksDescriptors: true,
    async lookup(name) {
      return entries.get(name) ?? null;
    },
    async *entries() {
      yield* entries.values();
    },
    async verify(checkEntry) {
      for (const e of entries.values()) await checkEntry(e);
    },
    async realNames(masterKey) {
      return realNamesV1(manifest, masterKey);
    },
  };
  return { header, index };
}

/** v1 hidden names: a JSON list of real names, encrypted as one blob, numbered in order. */
function realNamesV1(manifest: Manifest, masterKey?: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const seal = manifest.seal;
  const payload = manifest.entries.filter((e) => e.name.startsWith("payload/"));
  if (!seal?.names || !masterKey) {
    for (const e of payload) out.set(e.name, e.name);
    return out;
  }
  const capsuleId = fromHex(seal.capsuleId, 16);
  let names: unknown;
  try {
    const plain = xchacha20poly1305(namesKey(masterKey, capsuleId), new Uint8Array(24), capsuleId).decrypt(
      fromHex(seal.names),
    );
    names = JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return fail("decrypt", "cannot decrypt the hidden names");
  }
  if (!Array.isArray(names) || names.length !== payload.length)
    fail("format", "hidden names list is malformed");
  (names as unknown[]).forEach((n, i) => {
    if (typeof n !== "string" || !n.startsWith("payload/")) fail("format", "hidden names list is malformed");
    validateEntryName(n as string);
    out.set(hiddenName(i), n as string);
  });
  checkNameSet([...out.values()]);
  return out;
}
