/** Small inputs grouped into batches for a `SmallFileBatcher`, and the results of a batch entry by entry. */
import { TAG_BYTES } from "../crypto/stream.js";
import type { PackInput, SmallFileBatcher, SmallFilesSealed } from "./pack.js";

/** Inputs in pack order, cut into batches of small files (for `PackOptions.smallFiles`) and the rest. */
export type Segment =
  | { kind: "one"; input: PackInput }
  | { kind: "batch"; inputs: PackInput[]; encrypted: boolean };

export function segment(
  ordered: PackInput[],
  entryNames: Map<PackInput, string>,
  sealed: boolean,
  batcher: SmallFileBatcher | undefined,
): Segment[] {
  const out: Segment[] = [];
  let run: PackInput[] = [];
  let runBytes = 0;
  let runEncrypted = false;
  const close = () => {
    if (run.length > 0) out.push({ kind: "batch", inputs: run, encrypted: runEncrypted });
    run = [];
    runBytes = 0;
  };
  for (const input of ordered) {
    if (!batcher?.accepts(input) || input.size > batcher.maxSize) {
      close();
      out.push({ kind: "one", input });
      continue;
    }
    // A batch is sealed or stored in the clear as a whole.
    const encrypted = sealed && (entryNames.get(input) as string).startsWith("payload/");
    if (
      run.length > 0 &&
      (run.length >= batcher.maxFiles ||
        runBytes + input.size > batcher.maxBytes ||
        encrypted !== runEncrypted)
    )
      close();
    runEncrypted = encrypted;
    run.push(input);
    runBytes += input.size + TAG_BYTES;
  }
  close();
  return out;
}

/** The stored bytes, CRC-32 and digest of each file of a sealed batch, in order. */
export function* batchEntries(
  inputs: PackInput[],
  encrypted: boolean,
  r: SmallFilesSealed,
): Generator<{ input: PackInput; stored: Uint8Array; crc32: number; digest: Uint8Array }> {
  const tag = encrypted ? TAG_BYTES : 0;
  let at = 0;
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i] as PackInput;
    const n = input.size + tag;
    yield {
      input,
      stored: r.stored.subarray(at, at + n),
      crc32: r.crcs[i] as number,
      digest: r.digests.slice(32 * i, 32 * i + 32),
    };
    at += n;
  }
}
