/**
 * Shared parts of the property tests of the parsers. `QCAP_FUZZ_RUNS` sets the runs per property
 * (default 100: a few seconds in `npm test`); `QCAP_FUZZ_SEED` replays a run fast-check reported.
 */
import fc from "fast-check";
import { QcapError } from "../../src/errors.js";

export const RUNS = Math.max(1, Number(process.env.QCAP_FUZZ_RUNS ?? "") || 100);
const seed = process.env.QCAP_FUZZ_SEED ? Number(process.env.QCAP_FUZZ_SEED) : undefined;

/** fast-check parameters of every property. */
export const params: fc.Parameters<unknown> = { numRuns: RUNS, ...(seed !== undefined ? { seed } : {}) };

/** A vitest timeout that grows with the runs. */
export const timeout = 10_000 + RUNS * 100;

/** Runs `f`; anything it throws must be the library's typed error. Returns whether it succeeded. */
export function typedOnly(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof QcapError) return false;
    throw e;
  }
}

export async function typedOnlyAsync(f: () => Promise<unknown>): Promise<boolean> {
  try {
    await f();
    return true;
  } catch (e) {
    if (e instanceof QcapError) return false;
    throw e;
  }
}

/** One edit of a byte string: flip a bit, set a byte, truncate, insert or delete a run. */
export type Mutation =
  | { t: "flip"; at: number; bit: number }
  | { t: "set"; at: number; value: number }
  | { t: "truncate"; at: number }
  | { t: "insert"; at: number; bytes: Uint8Array }
  | { t: "delete"; at: number; length: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ t: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ t: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ t: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    t: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ t: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
);

/** `bytes` with the mutations applied in order (positions wrap around the current length). */
export function mutate(bytes: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(bytes);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.t === "flip" && b.length > 0) b[at] = (b[at] as number) ^ (1 << m.bit);
    else if (m.t === "set" && b.length > 0) b[at] = m.value;
    else if (m.t === "truncate") b = b.slice(0, at);
    else if (m.t === "insert") b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    else if (m.t === "delete") b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.length)]);
  }
  return b;
}

/** Mutations of text, applied to its UTF-8 bytes and decoded back (invalid UTF-8 becomes U+FFFD). */
export function mutateText(text: string, ms: readonly Mutation[]): string {
  return new TextDecoder().decode(mutate(new TextEncoder().encode(text), ms));
}

export const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

export const equalBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);
