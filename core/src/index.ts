/**
 * @qcap/core: the .qcap capsule format. Browser-safe exports live here; Node file system helpers are
 * in `@qcap/core/node`.
 */
export {
  Capsule,
  type CapsuleEntry,
  MANIFEST_NAME,
  type OpenOptions,
  SIGNATURE_NAME,
  type StoredChunk,
} from "./capsule.js";
export { type ErrorKind, QcapError } from "./errors.js";
export {
  checkGrant,
  describeGrant,
  type Grant,
  type IssueOptions,
  issueGrant,
  parseGrant,
  serializeGrant,
} from "./grant/grant.js";
export {
  parseRevocationList,
  type RevocationList,
  serializeRevocationList,
  updateRevocationList,
  verifyRevocationList,
} from "./grant/revocation.js";
export { memorySink, type Sink } from "./io/sink.js";
export { bytesSource, httpSource, type RangeSource, tailCachedSource } from "./io/source.js";
export { encodeIdentity, encodeRecipient, parseIdentity, parseRecipient } from "./keys/age.js";
export { parsePublicKey, parseSigningKey, publicKeyToPem } from "./keys/ed25519.js";
export { generateKeyFile, loadKeyMaterial } from "./keys/keyfile.js";
export {
  encodeManifest,
  FORMAT_VERSION,
  type Manifest,
  type ManifestEntry,
  parseManifest,
  type Seal,
} from "./manifest.js";
export {
  bytesInput,
  type PackInput,
  type PackOptions,
  type PackResult,
  pack,
  type SigningKey,
} from "./pack.js";
export { plainChunks, readRange } from "./read.js";
export { type EntryKeys, type Keyring, masterEntryKeys, realNames, unlockMasterKey } from "./unlock.js";
