/**
 * The engine is chosen in one place (`engine/choice.ts`) and its worker threads start only when a
 * large entry needs them: small work never pays for threads, and every engine gives the same bytes.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput } from "../src/capsule/pack.js";
import { chooseEngine, defaultWorkerThreads } from "../src/engine/choice.js";
import { createEngine } from "../src/engine/create.js";
import { inlineEngine, LARGE_ENTRY_BYTES } from "../src/engine/engine.js";
import { qcapNative } from "../src/engine/native.js";
import { bytesSource } from "../src/io/source.js";
import { packBytes, pseudoRandom } from "./helpers.js";

const saved = process.env.QCAP_THREADS;
afterEach(() => {
  if (saved === undefined) delete process.env.QCAP_THREADS;
  else process.env.QCAP_THREADS = saved;
});

describe("engine choice", () => {
  it("reads QCAP_THREADS: a count (floored), none for 0 or anything not positive, the default when unset", () => {
    const threads = (env: string | undefined) => {
      if (env === undefined) delete process.env.QCAP_THREADS;
      else process.env.QCAP_THREADS = env;
      return chooseEngine({ native: false }).threads;
    };
    expect(threads("2")).toBe(2);
    expect(threads("2.7")).toBe(2);
    for (const none of ["0", "-1", "x"]) expect(threads(none), none).toBe(0);
    expect(threads("")).toBe(defaultWorkerThreads());
    expect(threads(undefined)).toBe(defaultWorkerThreads());
    expect(defaultWorkerThreads()).toBeGreaterThanOrEqual(1);
    expect(defaultWorkerThreads()).toBeLessThanOrEqual(3);
  });

  it("names its kind: native when the kernels are loaded and wanted, else workers or portable", () => {
    expect(chooseEngine({ native: false, threads: 0 }).kind).toBe("portable");
    expect(chooseEngine({ native: false, threads: 2 }).kind).toBe("workers");
    expect(chooseEngine({ threads: 0 }).kind).toBe(qcapNative ? "native" : "portable");
    expect(chooseEngine({ threads: 0 }).native).toBe(qcapNative);
    expect(chooseEngine().largeBytes).toBe(LARGE_ENTRY_BYTES);
    expect(createEngine({ native: false }).smallFiles).toBeUndefined();
    expect(createEngine().smallFiles !== undefined).toBe(qcapNative?.sealSmallFiles !== undefined);
  });

  it("the default engine has no threads and no batches", () => {
    expect(inlineEngine.blocks()).toBeUndefined();
    expect(inlineEngine.workerThreads).toBe(0);
    expect(inlineEngine.smallFiles).toBeUndefined();
  });
});

describe("worker threads on demand", () => {
  it("starts none for small entries, one pool for large ones, with the same bytes", async () => {
    const engine = createEngine({ threads: 1, native: false });
    const blocks = vi.spyOn(engine, "blocks");
    try {
      const small = [bytesInput("payload/a", pseudoRandom(LARGE_ENTRY_BYTES - 1, 1))];
      const a = await packBytes(small, { engine });
      expect(blocks).not.toHaveBeenCalled();
      expect(Buffer.from(a).equals(Buffer.from(await packBytes(small)))).toBe(true);
      await (await Capsule.open(bytesSource(a))).verifyAll(undefined, engine);
      expect(blocks).not.toHaveBeenCalled();

      const large = [bytesInput("payload/b", pseudoRandom(LARGE_ENTRY_BYTES, 2)), ...small];
      const b = await packBytes(large, { engine });
      expect(blocks).toHaveBeenCalledTimes(1);
      const pool = blocks.mock.results[0]?.value;
      expect(pool).toBeDefined();
      expect(Buffer.from(b).equals(Buffer.from(await packBytes(large)))).toBe(true);
      await (await Capsule.open(bytesSource(b))).verifyAll(undefined, engine);
      // The same pool serves every large entry until the engine is closed.
      expect(blocks.mock.results.every((r) => r.value === pool)).toBe(true);
    } finally {
      await engine.close();
    }
    expect(engine.blocks()).toBeUndefined();
  });

  it("without threads, large entries stay on the calling thread and verify the same", async () => {
    const engine = createEngine({ threads: 0, native: false });
    expect(engine.blocks()).toBeUndefined();
    const large = [bytesInput("payload/b", pseudoRandom(LARGE_ENTRY_BYTES + 5, 3))];
    const b = await packBytes(large, { engine });
    expect(Buffer.from(b).equals(Buffer.from(await packBytes(large)))).toBe(true);
    await (await Capsule.open(bytesSource(b))).verifyAll(undefined, engine);
    await engine.close();
  });
});
