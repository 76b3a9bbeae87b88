/** Pack inputs from the local file system. */
import { lstat, open, readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fail, QcapError } from "./errors.js";
import { MODE_EXEC, MODE_FILE } from "./manifest.js";
import type { PackInput } from "./pack.js";
import { validateEntryName } from "./zip/names.js";

const READ_SIZE = 1 << 20;

/** A file read in 1 MiB pieces (a whole number of chunks, so re-chunking never copies). */
export function fileInput(path: string, name: string, size: number, mode: number): PackInput {
  return {
    name,
    size,
    mode,
    async *read() {
      const fh = await open(path, "r");
      try {
        for (;;) {
          const buf = new Uint8Array(READ_SIZE);
          const { bytesRead } = await fh.read(buf, 0, READ_SIZE, null);
          if (bytesRead === 0) return;
          yield bytesRead === READ_SIZE ? buf : buf.subarray(0, bytesRead);
        }
      } finally {
        await fh.close();
      }
    },
  };
}

/**
 * Every regular file below `dir`, named `prefix` + its relative path with `/` separators.
 * Symlinks and special files are refused rather than followed: packing must not reach outside `dir`.
 */
export async function directoryInputs(dir: string, prefix: "payload/" | "meta/"): Promise<PackInput[]> {
  const top = await lstat(dir).catch(() => fail("input", `cannot read ${dir}: no such directory`));
  if (!top.isDirectory()) fail("input", `${dir} is not a directory`);
  const out: PackInput[] = [];
  const walk = async (d: string): Promise<void> => {
    const names = (await readdir(d)).sort();
    for (const n of names) {
      const path = join(d, n);
      const st = await lstat(path);
      if (st.isDirectory()) {
        await walk(path);
      } else if (st.isFile()) {
        const name = prefix + relative(dir, path).split(sep).join("/");
        try {
          validateEntryName(name);
        } catch (e) {
          throw new QcapError("input", `cannot pack ${path}: ${(e as Error).message}`);
        }
        out.push(fileInput(path, name, st.size, st.mode & 0o111 ? MODE_EXEC : MODE_FILE));
      } else if (st.isSymbolicLink()) {
        fail("input", `cannot pack ${path}: symbolic links are not packed`);
      } else {
        fail("input", `cannot pack ${path}: not a regular file`);
      }
    }
  };
  await walk(dir);
  return out;
}
