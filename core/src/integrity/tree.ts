/**
 * The chunk tree of one entry (SPEC §3.1): level 0 is BLAKE3 of each stored chunk, each higher level
 * hashes groups of 1024 digests, and the single top node is the entry digest.
 */
import { fail, QcapError } from "../errors.js";
import { blake3 } from "../hash/blake3.js";
import { equalBytes } from "../hash/hex.js";

export const FANOUT = 1024;
export const DIGEST = 32;

/** Number of stored chunks of an entry of `storedSize` bytes. */
export function chunkCount(storedSize: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(storedSize / chunkSize));
}

/** Node counts per level, from level 0 up to and including the single-node top. */
export function levelCounts(chunks: number): number[] {
  const counts = [chunks];
  let n = chunks;
  while (n > 1) {
    n = Math.ceil(n / FANOUT);
    counts.push(n);
  }
  return counts;
}

/** Byte length of the index entry (0 when the entry has a single chunk and so no index). */
export function indexSize(storedSize: number, chunkSize: number): number {
  const counts = levelCounts(chunkCount(storedSize, chunkSize));
  let total = 0;
  for (let k = 0; k < counts.length - 1; k++) total += (counts[k] as number) * DIGEST;
  return total;
}

/** Byte offset of level `k` inside the index entry. */
function levelOffset(counts: number[], k: number): number {
  let off = 0;
  for (let i = 0; i < k; i++) off += (counts[i] as number) * DIGEST;
  return off;
}

function hashGroups(level: Uint8Array): Uint8Array {
  const n = level.length / DIGEST;
  const groups = Math.ceil(n / FANOUT);
  const out = new Uint8Array(groups * DIGEST);
  for (let g = 0; g < groups; g++) {
    const start = g * FANOUT * DIGEST;
    const end = Math.min(level.length, start + FANOUT * DIGEST);
    out.set(blake3(level.subarray(start, end)), g * DIGEST);
  }
  return out;
}

/** Builds the tree from stored chunks pushed in order; each push must be one whole chunk. */
export class TreeBuilder {
  private level0: Uint8Array;
  private count = 0;

  constructor(
    readonly chunkSize: number,
    expectedChunks = 1,
  ) {
    this.level0 = new Uint8Array(Math.max(1, expectedChunks) * DIGEST);
  }

  pushChunk(chunk: Uint8Array): void {
    this.pushDigest(blake3(chunk));
  }

  pushDigest(d: Uint8Array): void {
    this.pushDigests(d.subarray(0, DIGEST));
  }

  /** Appends consecutive level-0 digests (32 bytes each), e.g. those of a block. */
  pushDigests(ds: Uint8Array): void {
    const n = ds.length / DIGEST;
    if (!Number.isInteger(n)) throw new RangeError("digests must be 32 bytes each");
    if ((this.count + n) * DIGEST > this.level0.length) {
      const grown = new Uint8Array(Math.max(this.level0.length * 2, (this.count + n) * DIGEST));
      grown.set(this.level0);
      this.level0 = grown;
    }
    this.level0.set(ds, this.count * DIGEST);
    this.count += n;
  }

  /** The entry digest, and the index entry bytes (null for single-chunk entries). */
  finish(): { digest: Uint8Array; index: Uint8Array | null } {
    if (this.count === 0) this.pushChunk(new Uint8Array(0));
    let level = this.level0.subarray(0, this.count * DIGEST);
    if (this.count === 1) return { digest: level.slice(), index: null };
    const levels: Uint8Array[] = [];
    while (level.length > DIGEST) {
      levels.push(level);
      level = hashGroups(level);
    }
    const index = new Uint8Array(levels.reduce((s, l) => s + l.length, 0));
    let off = 0;
    for (const l of levels) {
      index.set(l, off);
      off += l.length;
    }
    return { digest: level, index };
  }
}

/** A contiguous byte range to fetch from an index entry, and how to check it. */
export interface IndexRead {
  level: number;
  /** Byte range inside the index entry. */
  offset: number;
  length: number;
  /** First group index covered; groups are checked against the level above. */
  firstGroup: number;
}

/**
 * Verifies the level-0 digests of chunks [first, last] of an entry by fetching only the groups on
 * their path to the top. `readIndex(offset, length)` returns bytes of the index entry.
 */
export async function verifiedChunkDigests(
  digest: Uint8Array,
  storedSize: number,
  chunkSize: number,
  first: number,
  last: number,
  readIndex: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<Uint8Array[]> {
  const counts = levelCounts(chunkCount(storedSize, chunkSize));
  const top = counts.length - 1;
  if (top === 0) return [digest];
  // Verified digests of the needed nodes at the current level, starting at the top.
  let lo = 0;
  let known: Uint8Array[] = [digest];
  for (let k = top - 1; k >= 0; k--) {
    const n = counts[k] as number;
    const nodeFirst = Math.floor(first / FANOUT ** k);
    const nodeLast = Math.floor(last / FANOUT ** k);
    const g0 = Math.floor(nodeFirst / FANOUT);
    const g1 = Math.floor(nodeLast / FANOUT);
    const start = g0 * FANOUT;
    const end = Math.min(n, (g1 + 1) * FANOUT);
    const bytes = await readIndex(levelOffset(counts, k) + start * DIGEST, (end - start) * DIGEST);
    if (bytes.length !== (end - start) * DIGEST) fail("integrity", "index entry is truncated");
    for (let g = g0; g <= g1; g++) {
      const a = (g * FANOUT - start) * DIGEST;
      const b = Math.min(bytes.length, a + FANOUT * DIGEST);
      const parent = known[g - lo];
      if (!parent || !equalBytes(blake3(bytes.subarray(a, b)), parent)) {
        throw new QcapError("integrity", `index entry does not match the signed digest (level ${k})`);
      }
    }
    known = [];
    for (let j = nodeFirst; j <= nodeLast; j++) {
      known.push(bytes.subarray((j - start) * DIGEST, (j - start + 1) * DIGEST));
    }
    lo = nodeFirst;
  }
  return known;
}
