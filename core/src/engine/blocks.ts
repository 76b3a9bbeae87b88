/**
 * Block engines: the heavy per-chunk work (STREAM encryption and decryption, BLAKE3, CRC-32) done a
 * block of 16 chunks at a time, possibly on other threads. An `Engine` (`engine.ts`) hands one to
 * `pack`, `Capsule.verifyAll` and the Node extractor; Node's is `createBlockEngine` in
 * `worker-pool.ts` (worker threads over shared memory). Without one, everything runs chunk by chunk
 * on the calling thread.
 */

/** Chunks per block: 1 MiB of plaintext. */
export const BLOCK_CHUNKS = 16;

/** Buffers of one block, shared with the thread that works on it. */
export interface BlockSlot {
  /** Plaintext to seal, or stored bytes to open: up to `BLOCK_CHUNKS` stored chunks. */
  readonly input: Uint8Array;
  /** Stored bytes written by `seal` of sealed entries; plaintext written by `open` with a key. */
  readonly output: Uint8Array;
  /** `seal` writes the BLAKE3 digest of each stored chunk here, 32 bytes each. */
  readonly digests: Uint8Array;
}

export interface StreamKey {
  fileKey: Uint8Array;
  aad: Uint8Array;
}

export interface SealJob {
  /** Index of the block's first chunk in the entry, and the entry's chunk count. */
  firstChunk: number;
  totalChunks: number;
  /** Plaintext bytes in `input`: 16 whole chunks, except in the entry's last block. */
  length: number;
  /** Encrypt with STREAM (SPEC §5.2); absent: the stored bytes are the plaintext in `input`. */
  key?: StreamKey;
  /** Read the plaintext into `input` first, from this file (see `OpenJob.from`). */
  from?: FileRange;
}

export interface OpenJob {
  firstChunk: number;
  totalChunks: number;
  /** Stored bytes in `input`. */
  length: number;
  /** Stored chunk size (65536, or 65552 when encrypted). */
  chunkSize: number;
  /** The verified level-0 digests of the block's chunks, 32 bytes each. */
  expected: Uint8Array;
  /** Decrypt into `output` after checking; absent: only check. */
  key?: StreamKey;
  /**
   * Read the stored bytes into `input` first, from this file descriptor at this position (the
   * thread that runs the job reads, so no other thread has to wake up for it). Absent: `input`
   * already holds them.
   */
  from?: FileRange;
}

/** Where a job's input is read from by the thread that runs it (see `OpenJob.from`). */
export interface FileRange {
  fd: number;
  position: number;
  /** Names the file in errors. */
  name: string;
}

export interface BlockEngine {
  /** Blocks worth keeping in flight (the number of slots). */
  readonly depth: number;
  /** A free slot; waits when all are in use. */
  acquire(): Promise<BlockSlot>;
  release(slot: BlockSlot): void;
  /** Seals a block: stored bytes (in `output` when encrypted, else `input`), digests and CRC-32. */
  seal(slot: BlockSlot, job: SealJob): Promise<{ storedLength: number; crc32: number }>;
  /**
   * Checks each stored chunk against `expected` and decrypts when a key is given. Rejects with a
   * QcapError "integrity" or "decrypt" naming the first bad chunk.
   */
  open(slot: BlockSlot, job: OpenJob): Promise<{ plainLength: number }>;
  /** Stops the engine's threads. */
  close(): Promise<void>;
}
