/** Output helpers shared by the command modules: stdout lines and JSON, atomic text files. */
import { randomBytes } from "node:crypto";
import { lstat, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fail } from "../errors.js";
import { parseRfc3339 } from "../grant/time.js";
import { fsReason } from "../io/source-node.js";
import { forgetTemp, rememberTemp } from "../io/temp-files-node.js";
import { escapeText } from "./escape.js";

/** A line of text on stdout, untrusted characters escaped (escape.ts). */
export const print = (s: string): void => {
  process.stdout.write(`${escapeText(s)}\n`);
};
/** JSON on stdout, exact: JSON.stringify escapes control characters itself. */
export const printJson = (x: unknown): void => {
  process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
};
export const warn = (s: string): void => {
  process.stderr.write(`qcap: warning: ${escapeText(s)}\n`);
};

/**
 * Writes `text` through a temporary file renamed into place, so a failed run leaves nothing behind.
 * Without `force`, an existing `path` is an "input" error.
 */
export async function writeTextFile(
  path: string,
  text: string,
  o: { mode: number; force?: boolean },
): Promise<void> {
  if (!o.force) {
    try {
      await lstat(path);
      fail("input", `refusing to overwrite ${path} (use --force to replace it)`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === "string" && code !== "ENOENT")
        fail("input", `cannot write ${path}: ${fsReason(e)}`, e);
      if (code !== "ENOENT") throw e;
    }
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    // Created with the mode and no chmod after: the umask applies, so it is never wider than allowed.
    const fh = await open(tmp, "wx", o.mode);
    rememberTemp(tmp);
    try {
      await fh.writeFile(text, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    forgetTemp(tmp);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    forgetTemp(tmp);
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string") fail("input", `cannot write ${path}: ${fsReason(e)}`, e);
    throw e;
  }
}

/**
 * The current time in ms. `QCAP_NOW` (an RFC 3339 time) replaces the clock: it exists for tests of
 * expiry and staleness, never for production use.
 */
export function now(): number {
  const fixed = process.env.QCAP_NOW;
  if (fixed === undefined || fixed === "") return Date.now();
  return parseRfc3339(fixed) ?? fail("usage", "QCAP_NOW must be an RFC 3339 time");
}
