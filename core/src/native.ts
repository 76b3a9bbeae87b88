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
