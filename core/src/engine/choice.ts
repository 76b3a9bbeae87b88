/**
 * Which engine a Node process uses, decided in one place: the native kernels when loaded
 * (QCAP_NATIVE=0 turns them off), and how many worker threads for the large entries they do not
 * take (QCAP_THREADS=n: n, 0: none; default one less than the cores, 1 to 3). Light to load: no
 * crypto, no threads started (`--version` reports it).
 */
import { availableParallelism } from "node:os";
import { type EngineKind, LARGE_ENTRY_BYTES } from "./engine.js";
import { type QcapNative, qcapNative } from "./native.js";

export interface EngineOptions {
  /** Worker threads besides the calling thread (0: none). Default: QCAP_THREADS, else `defaultWorkerThreads()`. */
  threads?: number;
  /** Use the native kernels when loaded (default true). */
  native?: boolean;
  /** Entries at least this large take the bulk paths (default 4 MiB). */
  largeBytes?: number;
}

export interface EngineChoice {
  kind: EngineKind;
  native: QcapNative | undefined;
  threads: number;
  largeBytes: number;
}

/** One less than the available parallelism, at least 1 and at most 3 (each thread costs ~20 MiB). */
export function defaultWorkerThreads(): number {
  return Math.max(1, Math.min(3, availableParallelism() - 1));
}

/** Worker threads from QCAP_THREADS: a count, 0 (or anything not positive) for none, unset for the default. */
function threadsFromEnv(env: string | undefined): number {
  if (env === undefined || env === "") return defaultWorkerThreads();
  const n = Number(env);
  return n > 0 ? Math.floor(n) : 0;
}

export function chooseEngine(options: EngineOptions = {}): EngineChoice {
  const native = options.native === false ? undefined : qcapNative;
  const threads = Math.max(0, Math.floor(options.threads ?? threadsFromEnv(process.env.QCAP_THREADS)));
  return {
    kind: native ? "native" : threads > 0 ? "workers" : "portable",
    native,
    threads,
    largeBytes: options.largeBytes ?? LARGE_ENTRY_BYTES,
  };
}
