/** Output helpers shared by the command modules: stdout lines and JSON, atomic text files. */
import { randomBytes } from "node:crypto";
import { lstat, open, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fail } from "../errors.js";
import { parseRfc3339 } from "../grant/time.js";
import { moveIntoPlace } from "../node/sink.js";
import { fsReason } from "../node/source.js";
import { forgetTemp, rememberTemp } from "../node/temp-files.js";
import { escapeText } from "./escape.js";
import { type JsonCommand, jsonDocument } from "./json.js";

/** A line of text on stdout, untrusted characters escaped (escape.ts). */
export const print = (s: string): void => {
  process.stdout.write(`${escapeText(s)}\n`);
};
/**
 * The --json document of `command` on stdout (json.ts: schema and `ok` first), exact:
 * JSON.stringify escapes control characters itself.
 */
export const printJson = (command: JsonCommand, x: object): void => {
  process.stdout.write(`${JSON.stringify(jsonDocument(command, x), null, 2)}\n`);
};
/** "1 entry", "2 entries": a count with its noun in the right number. */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export const warn = (s: string): void => {
  process.stderr.write(`qcap: warning: ${escapeText(s)}\n`);
};

/**
 * Without `force`, an existing `path` (of any kind, a dangling link too) is an "input" error, checked
 * before any work or passphrase prompt. The writers check again at their final rename.
 */
export async function refuseToOverwrite(path: string, force?: boolean): Promise<void> {
  if (force) return;
  try {
    await lstat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    if (typeof code === "string") fail("input", `cannot write ${path}: ${fsReason(e)}`, e);
    throw e;
  }
  fail("input", `refusing to overwrite ${path} (use --force to replace it)`);
}

/**
 * Writes `text` through a temporary file renamed into place, so a failed run leaves nothing behind.
 * Without `force`, an existing `path` is an "input" error.
 */
export async function writeTextFile(
  path: string,
  text: string,
  o: { mode: number; force?: boolean },
): Promise<void> {
  await refuseToOverwrite(path, o.force);
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
    await moveIntoPlace(tmp, path, o.force ?? false);
    forgetTemp(tmp);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    forgetTemp(tmp);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") fail("input", `refusing to overwrite ${path} (use --force to replace it)`, e);
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
