/** The capsule root (SPEC §3.2): an RFC 6962 Merkle tree hash with BLAKE3 over entry leaves. */
import { blake3, blake3Concat } from "../hash/blake3.js";

const ZERO = Uint8Array.of(0);
const ONE = Uint8Array.of(1);
const encoder = new TextEncoder();

export interface RootLeaf {
  name: string;
  size: number;
  digest: Uint8Array;
}

export function leafData(e: RootLeaf): Uint8Array {
  const name = encoder.encode(e.name);
  const out = new Uint8Array(name.length + 1 + 8 + 32);
  out.set(name, 0);
  const view = new DataView(out.buffer);
  view.setBigUint64(name.length + 1, BigInt(e.size), true);
  out.set(e.digest, name.length + 9);
  return out;
}

function mth(leaves: readonly Uint8Array[], lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 1) return blake3Concat([ZERO, leaves[lo] as Uint8Array]);
  let k = 1;
  while (k * 2 < n) k *= 2;
  return blake3Concat([ONE, mth(leaves, lo, lo + k), mth(leaves, lo + k, hi)]);
}

export function capsuleRoot(entries: readonly RootLeaf[]): Uint8Array {
  if (entries.length === 0) return blake3(new Uint8Array(0));
  const leaves = entries.map(leafData);
  return mth(leaves, 0, leaves.length);
}
