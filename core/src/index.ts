/**
 * @qcap/core: the .qcap capsule format. Browser-safe exports live here; Node file system helpers are
 * in `@qcap/core/node`.
 */
export {
  Capsule,
  type CapsuleEntry,
  type CapsuleHeader,
  MANIFEST_NAME,
  type OpenOptions,
  SIGNATURE_NAME,
  type StoredChunk,
} from "./capsule/capsule.js";
export {
  type BatchKeys,
  bytesInput,
  type PackInput,
  type PackOptions,
  type PackResult,
  pack,
  type SigningKey,
  type SmallFileBatcher,
  type SmallFileJob,
  type SmallFilesSealed,
} from "./capsule/pack.js";
export { plainChunks, readRange } from "./capsule/read.js";
export {
  type EntryKeys,
  type Keyring,
  masterEntryKeys,
  realNames,
  unlockMasterKey,
} from "./capsule/unlock.js";
export { type ErrorKind, QcapError } from "./errors.js";
export {
  encodeManifest,
  FORMAT_VERSION,
  type Manifest,
  parseManifest,
  type Seal,
} from "./format/manifest.js";
export { type AttenuateOptions, attenuateGrant } from "./grant/attenuate.js";
export {
  type Allow,
  type Caveat,
  type Effective,
  effective,
  formatCaveat,
  parseCaveat,
} from "./grant/caveats.js";
export { compileGlob } from "./grant/glob.js";
export {
  type CheckedGrant,
  type CheckOptions,
  checkGrant,
  describeGrant,
  type Grant,
  type GrantEntry,
  grantEntryKeys,
  grantRootKey,
  type IssueOptions,
  issueGrant,
  parseGrant,
  serializeGrant,
} from "./grant/grant.js";
export {
  appendCaveats,
  decodeMacaroonV2,
  encodeMacaroonV2,
  type Macaroon,
  mintMacaroon,
  verifyMacaroonChain,
} from "./grant/macaroon.js";
export {
  parseRevocationList,
  type RevocationList,
  serializeRevocationList,
  updateRevocationList,
  verifyRevocationList,
} from "./grant/revocation.js";
export { formatRfc3339, parseRfc3339 } from "./grant/time.js";
export { memorySink, type Sink } from "./io/sink.js";
export { bytesSource, httpSource, type RangeSource, rangeSource, tailCachedSource } from "./io/source.js";
export { encodeIdentity, encodeRecipient, parseIdentity, parseRecipient } from "./keys/age.js";
export { parsePublicKey, parseSigningKey, publicKeyToPem } from "./keys/ed25519.js";
export { generateKeyFile, loadKeyMaterial } from "./keys/keyfile.js";
export { fingerprint, protectKeyFile, unlockKeyFile } from "./keys/keyfile-protected.js";
