/** A RangeSource over a local file (Node only). Positions are exact beyond 4 GiB. */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { fail, QcapError } from "../errors.js";
import { checkRange, type RangeSource } from "../io/source.js";

/** A short reason for a file system error: "no such file", "permission denied", … */
export function fsReason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "not a directory";
    case "ELOOP":
      return "is a symbolic link (not followed)";
    case "ENOSPC":
      return "no space left on device";
    case "EROFS":
      return "read-only file system";
    case "ENAMETOOLONG":
      return "file name too long";
    case "EEXIST":
      return "already exists";
    case "ENOTEMPTY":
      return "folder not empty";
    case "EXDEV":
      return "on another file system";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EMFILE":
    case "ENFILE":
      return "too many open files";
    default:
      if (typeof code === "string") return code;
      return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ");
  }
}

/**
 * Opens `path` for range reads (`fs.promises.open` + positioned `read`; not `fs.openAsBlob`, whose
 * size is wrong above 4 GiB in Node 20). Errors are QcapError "input": `cannot read <path>: <reason>`.
 */
export async function fileSource(path: string): Promise<RangeSource> {
  let fh: FileHandle;
  let size: number;
  try {
    // O_NONBLOCK: a FIFO is refused below instead of waiting for a writer (no effect on files).
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return fail("input", `cannot read ${path}: ${fsReason(e)}`, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) fail("input", `cannot read ${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    await fh.close().catch(() => {});
    if (e instanceof QcapError) throw e;
    return fail("input", `cannot read ${path}: ${fsReason(e)}`, e);
  }
  let bytesRead = 0;
  let requests = 0;
  let closed = false;
  const readInto = async (offset: number, buf: Uint8Array): Promise<void> => {
    if (closed) throw new Error(`${path}: source is closed`);
    const length = buf.length;
    checkRange(path, size, offset, length);
    let done = 0;
    while (done < length) {
      requests++;
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, done, Math.min(length - done, 0x4000_0000), offset + done));
      } catch (e) {
        return fail("input", `cannot read ${path}: ${fsReason(e)}`, e);
      }
      if (n === 0) fail("input", `cannot read ${path}: the file shrank while reading`);
      done += n;
      bytesRead += n;
    }
  };
  return {
    size,
    name: path,
    get bytesRead() {
      return bytesRead;
    },
    get requests() {
      return requests;
    },
    async read(offset, length) {
      if (closed) throw new Error(`${path}: source is closed`);
      checkRange(path, size, offset, length);
      const buf = new Uint8Array(length);
      await readInto(offset, buf);
      return buf;
    },
    readInto,
    get fd() {
      return closed ? undefined : fh.fd;
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}
