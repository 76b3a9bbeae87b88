/** Small inputs grouped into batches for a `SmallFileBatcher`, and the results of a batch entry by entry. */
import { TAG_BYTES } from "../crypto/stream.js";
import type { PackInput, SmallFileBatcher, SmallFilesSealed } from "./pack.js";

/** An input under its ZIP name, with its sealed real name (hidden names) or an empty one. */
export interface NamedInput {
  input: PackInput;
  name: string;
  sealedName: Uint8Array;
}

/** Inputs in pack order, cut into batches of small files (for `PackOptions.smallFiles`) and the rest. */
export type Segment =
  | { kind: "one"; item: NamedInput }
  | { kind: "batch"; items: NamedInput[]; encrypted: boolean };

/** The segments of `ordered`, as they are read: at most one batch of inputs is held. */
export async function* segments(
  ordered: AsyncIterable<NamedInput>,
  sealed: boolean,
  batcher: SmallFileBatcher | undefined,
): AsyncGenerator<Segment> {
  let run: NamedInput[] = [];
  let runBytes = 0;
  let runEncrypted = false;
  for await (const item of ordered) {
    const input = item.input;
    if (!batcher?.accepts(input) || input.size > batcher.maxSize) {
      if (run.length > 0) yield { kind: "batch", items: run, encrypted: runEncrypted };
      run = [];
      runBytes = 0;
      yield { kind: "one", item };
      continue;
    }
    // A batch is sealed or stored in the clear as a whole.
    const encrypted = sealed && item.name.startsWith("payload/");
    if (
      run.length > 0 &&
      (run.length >= batcher.maxFiles ||
        runBytes + input.size > batcher.maxBytes ||
        encrypted !== runEncrypted)
    ) {
      yield { kind: "batch", items: run, encrypted: runEncrypted };
      run = [];
      runBytes = 0;
    }
    runEncrypted = encrypted;
    run.push(item);
    runBytes += input.size + TAG_BYTES;
  }
  if (run.length > 0) yield { kind: "batch", items: run, encrypted: runEncrypted };
}

/** The stored bytes, CRC-32 and digest of each file of a sealed batch, in order. */
export function* batchEntries(
  items: NamedInput[],
  encrypted: boolean,
  r: SmallFilesSealed,
): Generator<NamedInput & { stored: Uint8Array; crc32: number; digest: Uint8Array }> {
  const tag = encrypted ? TAG_BYTES : 0;
  let at = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as NamedInput;
    const n = item.input.size + tag;
    yield {
      input: item.input,
      name: item.name,
      sealedName: item.sealedName,
      stored: r.stored.subarray(at, at + n),
      crc32: r.crcs[i] as number,
      digest: r.digests.subarray(32 * i, 32 * i + 32),
    };
    at += n;
  }
}
