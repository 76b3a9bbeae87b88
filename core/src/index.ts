/**
 * @qcap/core: the .qcap capsule format. Browser-safe exports live here; Node file system helpers are
 * in `@qcap/core/node`.
 */
export { Capsule, type CapsuleEntry, type OpenOptions, type StoredChunk, MANIFEST_NAME, SIGNATURE_NAME } from "./capsule.js";
export { QcapError, type ErrorKind } from "./errors.js";
export { type Manifest, type ManifestEntry, type Seal, parseManifest, encodeManifest, FORMAT_VERSION } from "./manifest.js";
export { pack, bytesInput, type PackInput, type PackOptions, type PackResult, type SigningKey } from "./pack.js";
export { plainChunks, readRange } from "./read.js";
export { unlockMasterKey, masterEntryKeys, realNames, type EntryKeys, type Keyring } from "./unlock.js";
export { type RangeSource, bytesSource, httpSource, tailCachedSource } from "./io/source.js";
export { type Sink, memorySink } from "./io/sink.js";
export { parseRecipient, encodeRecipient, parseIdentity, encodeIdentity } from "./keys/age.js";
export { parseSigningKey, parsePublicKey, publicKeyToPem } from "./keys/ed25519.js";
export { loadKeyMaterial, generateKeyFile } from "./keys/keyfile.js";
