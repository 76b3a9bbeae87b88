/**
 * `@qcap/core/registry`: the registry layout shared by the operator, the Action and `qcap publish`,
 * `fetch` and `ls`, and its compare-and-swap updates in S3. Node only, and the one part of @qcap/core
 * that needs the optional `@aws-sdk/client-s3`.
 */
export {
  INDEX_FILE,
  parseIndex,
  pickEntry,
  REVOCATIONS_FILE,
  type RegistryEntry,
  type RegistryIndex,
  registryKey,
} from "./layout.js";
export { objectUrl, parseRegistryAddress, type RegistryAddress } from "./location.js";
export {
  isNotFound,
  isUnreachable,
  isWriteConflict,
  RegistryError,
  type RegistryErrorCode,
  s3ErrorMessage,
} from "./s3-errors.js";
export {
  getConsistent,
  lockKey,
  type RegistryLocation,
  readIndex,
  type UpdateOptions,
  type UpdateResult,
  updateEntry,
  updateIndex,
  withLock,
} from "./s3-store.js";
