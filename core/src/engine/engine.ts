/**
 * The engine behind `pack`, `Capsule.verifyAll` and `extract`: where the per-chunk work of large
 * entries runs. Three kinds give the same bytes and the same checks:
 * - native: the `@qcap/native` kernels read, seal, hash and write local files on threads of their own;
 * - workers: a block engine on worker threads (`worker-pool.ts`) for large entries;
 * - portable: everything chunk by chunk on the calling thread (browsers, or no threads wanted).
 * A native engine still has worker threads for large entries the kernels cannot take (inputs that
 * are not local files, sinks that are not files). The choice is made once on Node (`choice.ts`,
 * `createEngine` in `create.ts`); this module is browser-safe and loads no crypto.
 */

import type { SmallFileBatcher } from "../capsule/pack.js";
import { BLOCK_CHUNKS, type BlockEngine } from "./blocks.js";
import { type QcapNative, qcapNative } from "./native.js";

/**
 * Entries at least this large (4 MiB) go to the engine's bulk paths; smaller ones stay chunk by
 * chunk on the calling thread, where they cost less than a hand-over to another thread.
 */
export const LARGE_ENTRY_BYTES = 4 * BLOCK_CHUNKS * 65536;

export type EngineKind = "native" | "workers" | "portable";

export interface Engine {
  readonly kind: EngineKind;
  /** Entries of at least this many bytes take the bulk paths (default `LARGE_ENTRY_BYTES`). */
  readonly largeBytes: number;
  /** The native kernels, when they do the bulk work of local files. */
  readonly native: QcapNative | undefined;
  /** Worker threads of the block engine (0: none); none are started before `blocks()` is called. */
  readonly workerThreads: number;
  /**
   * The block engine for large entries the native kernels do not take, started on the first call
   * and kept until `close()`; undefined when this engine has no worker threads.
   */
  blocks(): BlockEngine | undefined;
  /** Reads and seals small local files in batches (native only). */
  readonly smallFiles: SmallFileBatcher | undefined;
  /** Stops the worker threads, if any were started. */
  close(): Promise<void>;
}

/**
 * The engine used when a caller gives none: the native kernels where they are loaded, no worker
 * threads and no batching of small files (both need Node's file system and threads).
 */
export const inlineEngine: Engine = {
  kind: qcapNative ? "native" : "portable",
  largeBytes: LARGE_ENTRY_BYTES,
  native: qcapNative,
  workerThreads: 0,
  blocks: () => undefined,
  smallFiles: undefined,
  close: async () => {},
};
