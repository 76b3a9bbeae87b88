/**
 * The optional native kernels (`@qcap/native`, Rust: ring's ChaCha20-Poly1305, BLAKE3, CRC-32) on
 * Node. Undefined in browsers, where the addon is not built, or with QCAP_NATIVE=0; every caller
 * then uses a portable engine that gives the same bytes. Loaded without a static import so that no
 * browser bundle sees it.
 */
import type * as Native from "@qcap/native";

export type QcapNative = typeof Native;

export const qcapNative: QcapNative | undefined = (() => {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  if (proc?.env?.QCAP_NATIVE === "0") return undefined;
  try {
    const mod = proc?.getBuiltinModule?.("node:module");
    return mod ? (mod.createRequire(import.meta.url)("@qcap/native") as QcapNative) : undefined;
  } catch {
    return undefined;
  }
})();

/**
 * Threads for the native kernels' own parallel work: the available parallelism (at most 4), or
 * QCAP_THREADS + 1 (QCAP_THREADS counts threads beside the calling one, as for the block engine).
 */
export function nativeThreads(): number {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  const env = proc?.env?.QCAP_THREADS;
  if (env !== undefined && env !== "" && Number(env) >= 0) return Math.min(16, Math.floor(Number(env)) + 1);
  const os = proc?.getBuiltinModule?.("node:os");
  return Math.max(1, Math.min(4, os?.availableParallelism() ?? 1));
}
