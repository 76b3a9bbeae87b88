/**
 * A BlockEngine on worker threads (Node only). Blocks live in SharedArrayBuffers, so nothing is
 * copied between threads: the caller fills a slot, a thread seals or opens it in place, and the
 * caller writes the result out. A job goes to the least busy worker; when every worker already has
 * `LOCAL_WHEN_QUEUED` jobs waiting, the calling thread runs it itself, at once. So a caller busy
 * with I/O (packing, extracting) leaves the crypto to the workers, and an idle one (verifying)
 * takes its share. Callers await results in order and keep up to `depth` blocks in flight.
 */

import { Worker } from "node:worker_threads";
import { STORED_CHUNK } from "../crypto/stream.js";
import { type ErrorKind, QcapError } from "../errors.js";
import { openBlock, sealBlock } from "./block-jobs.js";
import { BLOCK_CHUNKS, type BlockEngine, type BlockSlot, type OpenJob, type SealJob } from "./blocks.js";
import { defaultWorkerThreads } from "./choice.js";
import type { SlotBuffers, WorkerJob, WorkerReply } from "./worker.js";

/** A worker with this many jobs waiting is busy enough that the calling thread runs the next one. */
const LOCAL_WHEN_QUEUED = 2;

interface Slot extends BlockSlot {
  index: number;
}

export interface BlockEngineOptions {
  /**
   * Worker threads besides the calling thread, which takes its share of the blocks too. Default:
   * one less than the available parallelism, at least 1 and at most 3 (each costs ~20 MiB).
   */
  threads?: number;
  /** Slots (blocks in flight, 2 MiB each); default 2 per worker thread + 2. */
  slots?: number;
}

type Result = { storedLength: number; crc32: number } | { plainLength: number };

export function createBlockEngine(options: BlockEngineOptions = {}): BlockEngine {
  const threads = Math.max(1, options.threads ?? defaultWorkerThreads());
  const depth = Math.max(2, options.slots ?? threads * 2 + 2);
  const shared: SlotBuffers[] = [];
  const slots: Slot[] = [];
  for (let i = 0; i < depth; i++) {
    const b: SlotBuffers = {
      input: new SharedArrayBuffer(BLOCK_CHUNKS * STORED_CHUNK),
      output: new SharedArrayBuffer(BLOCK_CHUNKS * STORED_CHUNK),
      digests: new SharedArrayBuffer(BLOCK_CHUNKS * 32),
    };
    shared.push(b);
    slots.push({
      index: i,
      input: new Uint8Array(b.input),
      output: new Uint8Array(b.output),
      digests: new Uint8Array(b.digests),
    });
  }
  const free: Slot[] = [...slots];
  const waiting: ((s: Slot) => void)[] = [];
  const pending = new Map<number, { resolve: (r: Result) => void; reject: (e: unknown) => void }>();
  let nextId = 0;
  let closed = false;
  /** Jobs waiting per worker; which worker has each job; workers lost. */
  const queued: number[] = [];
  const owner = new Map<number, number>();
  const dead: boolean[] = [];

  // Under a TypeScript test runner this module is the source file; the worker runs the build.
  const here = import.meta.url;
  const script = new URL(here.endsWith(".ts") ? "../../dist/engine/worker.js" : "./worker.js", here);
  const workers: Worker[] = [];
  for (let t = 0; t < threads; t++) {
    // A small young generation: the workers allocate little, and every MiB of heap is resident.
    const w = new Worker(script, {
      workerData: { slots: shared },
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    queued.push(0);
    dead.push(false);
    w.on("message", (r: WorkerReply) => {
      queued[t] = (queued[t] as number) - 1;
      const p = pending.get(r.id);
      pending.delete(r.id);
      owner.delete(r.id);
      if (pending.size === 0) for (const x of workers) x.unref();
      if ("error" in r) p?.reject(new QcapError(r.error.kind as ErrorKind, r.error.message));
      else p?.resolve(r.result);
    });
    // A worker that fails or stops takes no more jobs (they run here); its jobs in flight fail.
    const lost = (e: unknown) => {
      if (dead[t]) return;
      dead[t] = true;
      queued[t] = Number.POSITIVE_INFINITY;
      for (const [id, p] of pending) {
        if (owner.get(id) !== t) continue;
        pending.delete(id);
        p.reject(e);
      }
    };
    w.on("error", lost);
    w.on("exit", (code) => lost(new Error(`block engine worker stopped (exit code ${code})`)));
    // Idle workers must not keep the process alive.
    w.unref();
    workers.push(w);
  }

  const slotOf = (s: BlockSlot): Slot => {
    const slot = s as Slot;
    if (slots[slot.index] !== slot) throw new Error("not a slot of this engine");
    return slot;
  };
  const run = <R extends Result>(
    slot: BlockSlot,
    job: { op: "seal"; job: SealJob } | { op: "open"; job: OpenJob },
  ): Promise<R> => {
    if (closed) return Promise.reject(new Error("block engine is closed"));
    const s = slotOf(slot);
    let t = 0;
    for (let i = 1; i < workers.length; i++) if ((queued[i] as number) < (queued[t] as number)) t = i;
    if (workers.length === 0 || (queued[t] as number) >= LOCAL_WHEN_QUEUED) {
      // Every worker has enough to do: this thread takes the block.
      try {
        return Promise.resolve((job.op === "seal" ? sealBlock(s, job.job) : openBlock(s, job.job)) as R);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const id = nextId++;
    const w = workers[t] as Worker;
    // Structured cloning copies a view's whole ArrayBuffer: send copies of just the bytes needed.
    const k = job.job.key;
    if (k) job.job.key = { fileKey: k.fileKey.slice(), aad: k.aad.slice() };
    if (job.op === "open") job.job.expected = job.job.expected.slice();
    queued[t] = (queued[t] as number) + 1;
    owner.set(id, t);
    return new Promise<R>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (r: Result) => void, reject });
      w.ref();
      w.postMessage({ id, slot: s.index, ...job } as WorkerJob);
    });
  };

  return {
    depth,
    acquire() {
      const s = free.pop();
      if (s) return Promise.resolve(s);
      return new Promise((resolve) => waiting.push(resolve));
    },
    release(s) {
      const slot = slotOf(s);
      const w = waiting.shift();
      if (w) w(slot);
      else free.push(slot);
    },
    seal: (s, job) => run(s, { op: "seal", job }),
    open: (s, job) => run(s, { op: "open", job }),
    async close() {
      if (closed) return;
      closed = true;
      for (let t = 0; t < dead.length; t++) dead[t] = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
