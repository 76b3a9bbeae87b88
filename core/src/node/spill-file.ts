/**
 * A `DirectorySpill` in an unnamed temporary file: made private (0600, `O_EXCL`) in the system's
 * temporary folder and unlinked at once, so nothing is left behind whatever ends the process.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fail } from "../errors.js";
import type { DirectorySpill } from "../zip/writer.js";
import { fsReason } from "./source.js";

const READ_BLOCK = 1 << 20;

/** A new private file in `dir`, already unlinked: only its descriptor reaches it. */
export function unlinkedTempFile(dir = tmpdir()): number {
  try {
    const folder = mkdtempSync(join(dir, ".qcap-spill-"));
    try {
      const path = join(folder, "spill");
      const fd = openSync(path, "wx+", 0o600);
      unlinkSync(path);
      return fd;
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  } catch (e) {
    return fail("input", `cannot make a temporary file in ${dir}: ${fsReason(e)}`, e);
  }
}

export function fileSpill(dir = tmpdir()): DirectorySpill {
  const fd = unlinkedTempFile(dir);
  let written = 0;
  let open = true;
  return {
    write(block) {
      try {
        for (let at = 0; at < block.length; ) at += writeSync(fd, block, at, block.length - at, written + at);
      } catch (e) {
        fail("input", `cannot write a temporary file in ${dir}: ${fsReason(e)}`, e);
      }
      written += block.length;
    },
    async *readBack() {
      const buf = new Uint8Array(Math.min(READ_BLOCK, Math.max(1, written)));
      for (let at = 0; at < written; ) {
        const want = Math.min(buf.length, written - at);
        let n = 0;
        while (n < want) {
          const got = readSync(fd, buf, n, want - n, at + n);
          if (got === 0) fail("input", "a temporary file ended early");
          n += got;
        }
        yield buf.subarray(0, n);
        at += n;
      }
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
