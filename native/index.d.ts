/** Native kernels of @qcap/core (see src/lib.rs). Chunk indexes are safe integers. */

/**
 * Encrypts `plain` with ChaCha20-Poly1305 (nonce `0^4 || u56be(index) || last`) into `out`: ciphertext
 * at `out[0..n)`, tag at `out[n..n+16)`. `out` must not overlap `plain` (code `QCAP_BUFFER_OVERLAP`).
 */
export function chunkSeal(
  subkey: Uint8Array,
  aad: Uint8Array,
  index: number,
  last: boolean,
  plain: Uint8Array,
  out: Uint8Array,
): void;

/** Checks and decrypts `stored` (ciphertext || tag) into `out`; false (plaintext zeroed) when it does not authenticate. */
export function chunkOpen(
  subkey: Uint8Array,
  aad: Uint8Array,
  index: number,
  last: boolean,
  stored: Uint8Array,
  out: Uint8Array,
): boolean;

/** BLAKE3-256 of `data`, written to `out[0..32)`. */
export function blake3Into(data: Uint8Array, out: Uint8Array): void;

/** CRC-32 (ISO-HDLC) of `data`, continuing from `initial`. */
export function crc32(data: Uint8Array, initial: number): number;

/** Seals a block of chunks; returns the CRC-32 of its stored bytes. */
export function sealBlock(
  subkey: Uint8Array | null | undefined,
  aad: Uint8Array,
  first: number,
  total: number,
  input: Uint8Array,
  length: number,
  output: Uint8Array,
  digests: Uint8Array,
): number;

/**
 * Checks (and decrypts) a block; the plaintext length. Throws an Error with `code`
 * `QCAP_CHUNK_MISMATCH` or `QCAP_CHUNK_NOT_AUTHENTIC` and `chunk` (within the block) for a bad chunk.
 */
export function openBlock(
  subkey: Uint8Array | null | undefined,
  aad: Uint8Array,
  first: number,
  total: number,
  chunkSize: number,
  input: Uint8Array,
  length: number,
  expected: Uint8Array,
  output: Uint8Array,
): number;

/**
 * Checks the BLAKE3 digest of each stored chunk of `length` bytes at `position` in the open file
 * `fd` against `expected` (32 bytes per chunk), reading and hashing on `threads` threads. Resolves
 * when all match; rejects with `code` `QCAP_CHUNK_MISMATCH` (and `chunk`) or `QCAP_TRUNCATED`.
 * Unix only.
 */
export function checkFileChunks(
  fd: number,
  position: number,
  length: number,
  chunkSize: number,
  expected: Uint8Array,
  threads: number,
): Promise<void>;

/**
 * Seals (or, without `subkey`, copies) the `length` plaintext bytes at `inPosition` of `inFd` -
 * chunks `first..` of an entry of `total` chunks - and writes the stored bytes at `outPosition` of
 * `outFd`, reading, sealing, hashing and writing on `threads` threads. Resolves to each stored
 * chunk's BLAKE3 digest and the CRC-32 of all stored bytes; rejects with "read: …" or "write: …".
 * Unix only.
 */
export function sealFileChunks(
  inFd: number,
  inPosition: number,
  length: number,
  outFd: number,
  outPosition: number,
  subkey: Uint8Array | null | undefined,
  aad: Uint8Array,
  first: number,
  total: number,
  threads: number,
): Promise<{ digests: Uint8Array; crc32: number }>;

/**
 * Reads whole small files (at most 65536 bytes each) and seals each as its own entry's single
 * chunk, or stores it in the clear without `prk`, on `threads` threads. Sealed, each file's key and
 * associated data derive from its entry name, `prk` (HKDF-Extract of the master key, salt the capsule
 * id: SPEC §5.1) and `capsuleId` (§5.2). Symbolic links are refused (O_NOFOLLOW). Unix only.
 */
export function sealSmallFiles(
  paths: string[],
  sizes: number[],
  names: string[] | null | undefined,
  prk: Uint8Array | null | undefined,
  capsuleId: Uint8Array | null | undefined,
  threads: number,
): Promise<{
  stored: Uint8Array;
  digests: Uint8Array;
  crcs: number[];
  /** Index of the first file that failed, or -1. */
  failed: number;
  /** For `failed`: bytes read (up to its size + 1), or -1 when it could not be opened or read. */
  failedRead: number;
  failedErrno: number;
  failedMessage: string;
}>;

/** HChaCha20 of a 32-byte key and a 16-byte nonce (draft-irtf-cfrg-xchacha §2.2). */
export function hchacha20Subkey(key: Uint8Array, nonce: Uint8Array): Uint8Array;

/**
 * Every file below `dir`, without following symbolic links: paths relative to `dir` with `/`
 * separators, depth first, each folder's names in byte order. Kinds: 0 a regular file, 1 a symbolic
 * link, 2 anything else. `notUtf8` names a path that is not UTF-8 (the listing then stops there).
 */
export function listTree(dir: string): Promise<{
  paths: string[];
  kinds: number[];
  sizes: number[];
  modes: number[];
  notUtf8: string;
}>;

/**
 * `checkFileChunks`, and each chunk that matches its digest is decrypted (chunk `first + i` of an
 * entry of `total` chunks, STREAM `subkey` and `aad`) and its plaintext written at `outPosition` of
 * `outFd`, plus 65536 bytes per chunk before it. Settles as `checkFileChunks` does, or rejects with
 * `code` `QCAP_CHUNK_NOT_AUTHENTIC` when chunk `chunk` matches its digest but does not authenticate,
 * or with "read: …" or "write: …". Unix only.
 */
export function openFileChunks(
  fd: number,
  position: number,
  length: number,
  chunkSize: number,
  expected: Uint8Array,
  subkey: Uint8Array,
  aad: Uint8Array,
  first: number,
  total: number,
  outFd: number,
  outPosition: number,
  threads: number,
): Promise<void>;
