/** Node-only helpers of @qcap/core: local files in and out. */
export { fileSource } from "./io/source-node.js";
export { fileSink } from "./io/sink-node.js";
export { directoryInputs, fileInput } from "./inputs-node.js";
export { extract, type ExtractItem, type ExtractOptions } from "./extract-node.js";
