/** Writing key files on Node: private (0600), atomic, and never over an existing file unless forced. */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { link, lstat, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fail } from "../errors.js";
import { fsReason } from "../node/source.js";
import { forgetTemp, rememberTemp } from "../node/temp-files.js";

/**
 * Writes `text` to `path` with mode 0600 through a temporary file in the same directory, so readers
 * never see a partial key. Without `force` an existing `path` is an "input" error and is left alone
 * (the final step is `link`, which fails atomically when the name exists).
 */
export async function writeKeyFile(path: string, text: string, opts?: { force?: boolean }): Promise<void> {
  try {
    await write(path, text, opts?.force === true);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string") fail("input", `cannot write ${path}: ${fsReason(e)}`, e);
    throw e;
  }
}

async function write(path: string, text: string, force: boolean): Promise<void> {
  const refuse = () => fail("input", `refusing to overwrite ${path} (use --force to replace it)`);
  if (!force && (await exists(path))) refuse();
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  rememberTemp(tmp);
  try {
    try {
      await fh.chmod(0o600); // the umask may only have removed bits, but be exact
      await fh.writeFile(text, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (force) {
      await rename(tmp, path);
    } else {
      try {
        await link(tmp, path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") refuse();
        // File systems without hard links: fall back to a checked rename (a tiny race remains).
        if (await exists(path)) refuse();
        await rename(tmp, path);
      }
    }
  } finally {
    await unlink(tmp).catch(() => {});
    forgetTemp(tmp);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}
