/** The engine of a Node process (see `choice.ts` for what is chosen, and `engine.ts` for what it does). */
import { chooseEngine, type EngineOptions } from "./choice.js";
import type { Engine } from "./engine.js";
import { nativeSmallFiles } from "./small-files.js";
import { createBlockEngine } from "./worker-pool.js";

export type { EngineOptions } from "./choice.js";

/** The engine chosen by `options` and the environment; its worker threads start on first use. */
export function createEngine(options: EngineOptions = {}): Engine {
  const { kind, native, threads, largeBytes } = chooseEngine(options);
  let pool: ReturnType<typeof createBlockEngine> | undefined;
  let closed = false;
  return {
    kind,
    largeBytes,
    native,
    workerThreads: threads,
    blocks() {
      if (threads === 0 || closed) return undefined;
      pool ??= createBlockEngine({ threads });
      return pool;
    },
    smallFiles: nativeSmallFiles(native),
    async close() {
      closed = true;
      await pool?.close();
    },
  };
}

/** Runs `fn` with a new engine (`createEngine`) and closes it afterwards. */
export async function withEngine<T>(fn: (engine: Engine) => Promise<T>, options?: EngineOptions): Promise<T> {
  const engine = createEngine(options);
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}
