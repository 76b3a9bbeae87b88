/**
 * The coded errors of the native kernels (native/src/lib.rs), mapped to the library's: a chunk that
 * does not match its signed digest, one that does not authenticate, a file that ends early. Any
 * other error is not one of these and is left to the caller.
 */
export type NativeFailure =
  | { code: "QCAP_CHUNK_MISMATCH"; chunk: number }
  | { code: "QCAP_CHUNK_NOT_AUTHENTIC"; chunk: number }
  | { code: "QCAP_TRUNCATED" };

/** The failure a native call threw or rejected with, or undefined for any other error. */
export function nativeFailure(e: unknown): NativeFailure | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const { code, chunk } = e as { code?: unknown; chunk?: unknown };
  if (code === "QCAP_TRUNCATED") return { code };
  if ((code === "QCAP_CHUNK_MISMATCH" || code === "QCAP_CHUNK_NOT_AUTHENTIC") && Number.isSafeInteger(chunk))
    return { code, chunk: chunk as number };
  return undefined;
}
