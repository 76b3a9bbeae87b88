/** Settings shared by the bench modules, from the environment (see BENCHMARKS.md, "Running it"). */
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..");
export const CLI = join(ROOT, "core", "dist", "cli", "main.js");
export const RUNS = Number(process.env.BENCH_RUNS ?? 5);
export const WORK = process.env.BENCH_DIR ?? join(ROOT, "bench", "out", "work");
export const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",")) : null;
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

export const log = (s) => process.stderr.write(`${s}\n`);
export const die = (s) => {
  log(`bench: ${s}`);
  process.exit(2);
};

/** Whether scenario `id` runs: all of them unless BENCH_ONLY names some ("many-files" names all many-files-*). */
export const want = (id) => !ONLY || ONLY.has(id) || (id.startsWith("many-files-") && ONLY.has("many-files"));

/** A positive integer from the environment, or `fallback`; anything else stops the bench. */
export function envCount(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  if (!/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v)))
    die(`${name} must be a positive integer, not "${v}"`);
  return Number(v);
}

export const qcap = (...args) => ({ cmd: process.execPath, args: [CLI, ...args] });
