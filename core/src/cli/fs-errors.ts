/**
 * File system errors that reach the top of the CLI (ENOTDIR, ENAMETOOLONG, EACCES, EISDIR, …) are
 * the user's input: one line naming the path and the reason, exit 2, never "unexpected error".
 */
import { fsReason } from "../node/source.js";

/** The one-line message for a Node file system error, or undefined for any other error. */
export function fsErrorMessage(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException | null;
  if (typeof err?.code !== "string" || typeof err.syscall !== "string" || !/^E[A-Z]+$/.test(err.code)) {
    return undefined;
  }
  const where = typeof err.path === "string" ? ` ${err.path}` : "";
  const verb = /^(open|read|stat|lstat|fstat|scandir|readlink|access)$/.test(err.syscall) ? "read" : "write";
  return `cannot ${verb}${where}: ${fsReason(err)}`;
}
