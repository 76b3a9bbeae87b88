/** The capsule root (SPEC §3.2): an RFC 6962 Merkle tree hash with BLAKE3 over entry leaves. */
import { blake3 } from "../hash/blake3.js";

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

/** The buffer an inner node's input `0x01 || left || right` is built in (hashing copies nothing). */
const NODE = new Uint8Array(65);
NODE[0] = 1;

function mth(leaves: readonly Uint8Array[], lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 1) return blake3(leaves[lo] as Uint8Array);
  let k = 1;
  while (k * 2 < n) k *= 2;
  const left = mth(leaves, lo, lo + k);
  const right = mth(leaves, lo + k, hi);
  NODE.set(left, 1);
  NODE.set(right, 33);
  return blake3(NODE);
}

export function capsuleRoot(entries: readonly RootLeaf[]): Uint8Array {
  if (entries.length === 0) return blake3(new Uint8Array(0));
  // Each leaf is hashed as `0x00 || leafData`: build them with the prefix in place.
  const leaves = entries.map((e) => {
    const d = leafData(e);
    const out = new Uint8Array(d.length + 1);
    out.set(d, 1);
    return out;
  });
  return mth(leaves, 0, leaves.length);
}
