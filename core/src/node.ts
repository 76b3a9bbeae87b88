/** Node-only helpers of @qcap/core: local files in and out. */

export { createEngine, type EngineOptions, withEngine } from "./engine/create.js";
export type { Engine, EngineKind } from "./engine/engine.js";
export { defaultKeyPath, qcapConfigDir } from "./node/config.js";
export {
  type ExtractItem,
  type ExtractOptions,
  type ExtractTarget,
  extract,
  extractAll,
} from "./node/extract.js";
export { directoryInputs, fileInput } from "./node/inputs.js";
export { highestSeen, qcapStateDir, recordSeen } from "./node/revocation-state.js";
export { fileSink } from "./node/sink.js";
export { fileSource } from "./node/source.js";
export { removeTempsNow } from "./node/temp-files.js";
