/** Node-only helpers of @qcap/core: local files in and out. */

export {
  type ExtractItem,
  type ExtractOptions,
  type ExtractTarget,
  extract,
  extractAll,
} from "./extract-node.js";
export { highestSeen, qcapStateDir, recordSeen } from "./grant/revocation-state-node.js";
export { directoryInputs, fileInput } from "./inputs-node.js";
export { fileSink } from "./io/sink-node.js";
export { fileSource } from "./io/source-node.js";
export { removeTempsNow } from "./io/temp-files-node.js";
export { defaultKeyPath, qcapConfigDir } from "./keys/config-node.js";
export { type BlockEngineOptions, createBlockEngine, withBlockEngine } from "./parallel-node.js";
export { nativeSmallFiles } from "./small-files-node.js";
