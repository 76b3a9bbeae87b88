/**
 * The worker thread of `worker-pool.ts`: seals and opens blocks held in shared memory. Each job
 * names a slot; the reply carries only small results (lengths, CRC, errors).
 */
import { parentPort, workerData } from "node:worker_threads";
import { QcapError } from "../errors.js";
import { openBlock, sealBlock } from "./block-jobs.js";
import type { BlockSlot, OpenJob, SealJob } from "./blocks.js";

export interface SlotBuffers {
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
  digests: SharedArrayBuffer;
}

export type WorkerJob = { id: number; slot: number } & (
  | { op: "seal"; job: SealJob }
  | { op: "open"; job: OpenJob }
);

export type WorkerReply =
  | { id: number; result: { storedLength: number; crc32: number } | { plainLength: number } }
  | { id: number; error: { kind: string; message: string } };

const slots: BlockSlot[] = (workerData as { slots: SlotBuffers[] }).slots.map((s) => ({
  input: new Uint8Array(s.input),
  output: new Uint8Array(s.output),
  digests: new Uint8Array(s.digests),
}));

parentPort?.on("message", (m: WorkerJob) => {
  let reply: WorkerReply;
  try {
    const slot = slots[m.slot] as BlockSlot;
    reply = { id: m.id, result: m.op === "seal" ? sealBlock(slot, m.job) : openBlock(slot, m.job) };
  } catch (e) {
    const kind = e instanceof QcapError ? e.kind : "format";
    reply = { id: m.id, error: { kind, message: e instanceof Error ? e.message : String(e) } };
  }
  parentPort?.postMessage(reply);
});
