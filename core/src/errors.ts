/**
 * Errors carry the CLI exit code they map to, so library callers and the CLI agree on
 * what is the user's input (2) and what is a failed check (1).
 */
export type ErrorKind =
  | "usage" // bad flags or arguments
  | "input" // unreadable or malformed input (file, key, JSON)
  | "format" // not a valid capsule: layout, manifest or name rules broken
  | "integrity" // a digest, CRC or signature does not match
  | "decrypt" // no usable key, or authentication failed
  | "unauthorized"; // a grant or policy forbids the operation

export class QcapError extends Error {
  override readonly name = "QcapError";
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Exit code of the CLI: 2 for usage and input errors, 1 for failed checks. */
  get exitCode(): 1 | 2 {
    return this.kind === "usage" || this.kind === "input" ? 2 : 1;
  }
}

/** Throws a QcapError; declared as a function so TypeScript narrows after `if (bad) fail(...)`. */
export function fail(kind: ErrorKind, message: string, cause?: unknown): never {
  throw new QcapError(kind, message, cause === undefined ? undefined : { cause });
}
