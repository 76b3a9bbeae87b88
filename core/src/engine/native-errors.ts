/**
 * The coded errors of the native kernels (native/src/lib.rs), mapped to the library's: a chunk that
 * does not match its signed digest, one that does not authenticate, a file that ends early, failed
 * reads and writes, an input that changed or could not be read. Any other error is not one of these
 * and is left to the caller.
 */
import { authFailed } from "../crypto/stream.js";
import { fail } from "../errors.js";

export type NativeFailure =
  | { code: "QCAP_CHUNK_MISMATCH"; chunk: number }
  | { code: "QCAP_CHUNK_NOT_AUTHENTIC"; chunk: number }
  | { code: "QCAP_TRUNCATED" }
  | { code: "QCAP_READ_FAILED" | "QCAP_WRITE_FAILED"; message: string }
  | { code: "QCAP_FILE_CHANGED"; index?: number; read?: number }
  | { code: "QCAP_FILE_UNREADABLE"; index: number; errno: number; message: string };

const count = (x: unknown): number | undefined => (Number.isSafeInteger(x) ? (x as number) : undefined);

/** The failure a native call threw or rejected with, or undefined for any other error. */
export function nativeFailure(e: unknown): NativeFailure | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const o = e as { code?: unknown; chunk?: unknown; index?: unknown; read?: unknown; errno?: unknown };
  const code = o.code;
  const message = e instanceof Error ? e.message : "";
  const chunk = count(o.chunk);
  const index = count(o.index);
  if (code === "QCAP_TRUNCATED") return { code };
  if ((code === "QCAP_CHUNK_MISMATCH" || code === "QCAP_CHUNK_NOT_AUTHENTIC") && chunk !== undefined)
    return { code, chunk };
  if (code === "QCAP_READ_FAILED" || code === "QCAP_WRITE_FAILED") return { code, message };
  if (code === "QCAP_FILE_CHANGED") {
    const read = count(o.read);
    return { code, ...(index !== undefined ? { index } : {}), ...(read !== undefined ? { read } : {}) };
  }
  if (code === "QCAP_FILE_UNREADABLE" && index !== undefined)
    return { code, index, errno: count(o.errno) ?? 0, message };
  return undefined;
}

/**
 * Rethrows a chunk that does not match its digest or does not authenticate as the library's error,
 * numbering chunks from `firstChunk` and naming `entry` when given; any other error as it is.
 */
export function rethrowChunkFailure(e: unknown, firstChunk: number, entry?: string): never {
  const f = nativeFailure(e);
  if (f?.code === "QCAP_CHUNK_MISMATCH")
    fail(
      "integrity",
      `${entry ? `${entry}: ` : ""}chunk ${firstChunk + f.chunk} does not match the signed digest`,
    );
  if (f?.code === "QCAP_CHUNK_NOT_AUTHENTIC") authFailed(firstChunk + f.chunk);
  throw e;
}
