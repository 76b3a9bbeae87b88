/**
 * The capsule format versions this CLI reads and writes, for `qcap --version`. Kept apart from
 * manifest.ts, whose imports cost more start-up time than `--version` may spend; a test holds them
 * equal to the library's.
 */
export const CAPSULE_FORMATS: { readonly reads: readonly number[]; readonly writes: number } = {
  reads: [1, 2],
  writes: 2,
};
