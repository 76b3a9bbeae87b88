/**
 * `@qcap/core/node`: the library's Node side. Local files as pack inputs, file sinks and sources,
 * extraction into folders (all or nothing), the engine (native kernels and worker threads), and the
 * folders `qcap` keeps its default key and revocation state in.
 */
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
export { type FileSinkOptions, fileSink } from "./node/sink.js";
export { fileSource } from "./node/source.js";
export { type SpillSorterOptions, spillSorter } from "./node/spill-sort.js";
export { removeTempsNow } from "./node/temp-files.js";
