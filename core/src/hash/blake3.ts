import { createBLAKE3 } from "hash-wasm";

// One WebAssembly hasher serves every call: its methods are synchronous once created,
// and all digests in the format are over inputs of at most one chunk or one digest group.
const hasher = await createBLAKE3(256);

/** BLAKE3-256 of `data` (what `b3sum` prints). */
export function blake3(data: Uint8Array): Uint8Array {
  hasher.init();
  hasher.update(data);
  return hasher.digest("binary");
}

/** BLAKE3-256 of the concatenation of `parts`, without concatenating them. */
export function blake3Concat(parts: readonly Uint8Array[]): Uint8Array {
  hasher.init();
  for (const p of parts) hasher.update(p);
  return hasher.digest("binary");
}
