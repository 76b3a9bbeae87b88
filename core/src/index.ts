/**
 * `@qcap/core`: the .qcap capsule format, in Node and in browsers. Pack, open, verify and read
 * capsules; parse and make keys; issue, check and narrow grants. Narrower parts are subpaths:
 * `@qcap/core/node` (local files, engines), `@qcap/core/grant` (revocation lists, caveats),
 * `@qcap/core/attest` (attestations) and `@qcap/core/registry` (S3 registries).
 */

// Reading: open (the signature is checked first), verify, read whole entries or byte ranges.
export { Capsule, type CapsuleEntry, type OpenOptions } from "./capsule/capsule.js";
// Writing.
export { alreadySorted, type NamedInput, type NameSorter } from "./capsule/name-order.js";
export {
  bytesInput,
  type PackInput,
  type PackOptions,
  type PackResult,
  pack,
  type SigningKey,
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
export type { Manifest } from "./format/manifest.js";
// Grants.
export { type AttenuateOptions, attenuateGrant } from "./grant/attenuate.js";
export {
  type CheckedGrant,
  type CheckOptions,
  checkGrant,
  type Grant,
  type GrantEntry,
  grantEntryKeys,
  type IssueOptions,
  issueGrant,
  parseGrant,
  serializeGrant,
} from "./grant/grant.js";
// Where capsules are read from and written to.
export { memorySink, type Sink } from "./io/sink.js";
export {
  blobSource,
  bytesSource,
  type HttpSourceInit,
  httpSource,
  type RangeSource,
  rangeSource,
  tailCachedSource,
} from "./io/source.js";
// Keys.
export { encodeIdentity, encodeRecipient, parseIdentity, parseRecipient } from "./keys/age.js";
export { parsePublicKey, parseSigningKey } from "./keys/ed25519.js";
export { generateKeyFile, type KeyFile, type KeyMaterial, loadKeyMaterial } from "./keys/keyfile.js";
