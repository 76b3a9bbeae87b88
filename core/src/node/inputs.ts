/** Pack inputs from the local file system. */
import {
  closeSync,
  constants,
  type Dirent,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  type Stats,
} from "node:fs";
import { lstat } from "node:fs/promises";
import { basename, join, relative, sep } from "node:path";
import { getSystemErrorName } from "node:util";
import type { PackInput } from "../capsule/pack.js";
import { qcapNative } from "../engine/native.js";
import { fail, QcapError } from "../errors.js";
import { compareNames } from "../format/entries.js";
import { MODE_EXEC, MODE_FILE } from "../v1/manifest.js";
import { validateEntryName } from "../zip/names.js";
import { fsReason } from "./source.js";

/**
 * Files are opened read-only without following symbolic links: the listing refused links, and one
 * put in a listed file's place later must not lead outside the folder. (0 where there is no such flag.)
 */
const READ_NOFOLLOW = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

/** Bytes per read of a large file: a whole number of chunks, so re-chunking never copies. */
const READ_SIZE = 1 << 20;

/**
 * Files up to this size are read with synchronous calls into a buffer of their size: with thousands
 * of small files the thread-pool round trips of asynchronous reads, not the copying, cost the time.
 */
const SMALL_FILE = 256 * 1024;

/**
 * A file read in 1 MiB pieces. Pieces of large files come from two reused buffers and are valid only
 * until the next piece is requested (`pack` consumes each before asking for the next); a small file
 * is read whole into the caller's scratch buffer when it offers one large enough.
 */
export function fileInput(path: string, name: string, size: number, mode: number): PackInput {
  const input: PackInput = {
    name,
    size,
    mode,
    read: (scratch) => (size <= SMALL_FILE ? readSmall(path, size, scratch) : readLarge(path)),
    async openFile() {
      let fd: number;
      try {
        fd = openSync(path, READ_NOFOLLOW);
      } catch (e) {
        return cannotRead(path, e);
      }
      return {
        fd,
        size: async () => fstatSync(fd).size,
        close: async () => closeSync(fd),
      };
    },
  };
  localPaths.set(input, path);
  return input;
}

/** Paths of inputs made by `fileInput`, for readers that open files themselves (native batches). */
const localPaths = new WeakMap<PackInput, string>();

/** The local path of an input made by `fileInput`, else undefined. */
export function localPathOf(input: PackInput): string | undefined {
  return localPaths.get(input);
}

const cannotRead = (path: string, e: unknown): never => {
  if (e instanceof QcapError) throw e;
  return fail("input", `cannot read ${path}: ${fsReason(e)}`, e);
};

async function* readSmall(path: string, size: number, scratch?: Uint8Array): AsyncGenerator<Uint8Array> {
  // One byte more than expected, so a file that grew is noticed by the caller.
  const buf = scratch && scratch.length > size ? scratch.subarray(0, size + 1) : new Uint8Array(size + 1);
  let fd: number;
  try {
    fd = openSync(path, READ_NOFOLLOW);
  } catch (e) {
    return cannotRead(path, e);
  }
  let n = 0;
  try {
    for (;;) {
      const want = buf.length - n;
      const got = readSync(fd, buf, n, want, null);
      n += got;
      // A short read of a regular file is its end: no second call just to see 0.
      if (got === 0 || got < want || n === buf.length) break;
    }
  } catch (e) {
    return cannotRead(path, e);
  } finally {
    closeSync(fd);
  }
  if (n > 0) yield buf.subarray(0, n);
}

async function* readLarge(path: string): AsyncGenerator<Uint8Array> {
  let fd: number;
  try {
    fd = openSync(path, READ_NOFOLLOW);
  } catch (e) {
    return cannotRead(path, e);
  }
  // Synchronous reads: from the page cache a 1 MiB read is a fraction of a millisecond, less than
  // handing it to the thread pool and waiting to be woken when the machine is busy.
  const bufs = [new Uint8Array(READ_SIZE), new Uint8Array(READ_SIZE)];
  try {
    for (let k = 0; ; k ^= 1) {
      const buf = bufs[k] as Uint8Array;
      let n = 0;
      try {
        while (n < buf.length) {
          const got = readSync(fd, buf, n, buf.length - n, null);
          if (got === 0) break;
          n += got;
        }
      } catch (e) {
        return cannotRead(path, e);
      }
      if (n === 0) return;
      yield n === buf.length ? buf : buf.subarray(0, n);
      if (n < buf.length) return;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * A native listing of `dir` (`list`: `listTree` or `listFolder`), or undefined without
 * `@qcap/native` or when a name is not UTF-8 (the listing in JavaScript then reports it as Node
 * does). Its errors are those of the walk: "cannot read DIR: reason".
 */
async function nativeList<T extends { notUtf8: string }>(
  dir: string,
  list: ((dir: string) => Promise<T>) | undefined,
): Promise<T | undefined> {
  if (!list) return undefined;
  let t: T;
  try {
    t = await list(dir);
  } catch (e) {
    return cannotRead(dir, withErrnoCode(e));
  }
  return t.notUtf8 === "" ? t : undefined;
}

/**
 * Every regular file below `dir`, named `prefix` + its relative path with `/` separators.
 * Symlinks and special files are refused rather than followed: packing must not reach outside `dir`.
 */
export async function directoryInputs(dir: string, prefix: "payload/" | "meta/"): Promise<PackInput[]> {
  const top = await lstat(dir).catch(() => fail("input", `cannot read ${dir}: no such directory`));
  if (!top.isDirectory()) fail("input", `${dir} is not a directory`);
  const listed = await nativeList(dir, qcapNative?.listTree); // one call for the whole tree
  if (listed) {
    const out: PackInput[] = [];
    listed.paths.forEach((rel, i) => {
      const path = join(dir, rel);
      const kind = listed.kinds[i];
      if (kind === 1) fail("input", `cannot pack ${path}: symbolic links are not packed`);
      if (kind !== 0) fail("input", `cannot pack ${path}: not a regular file`);
      const name = prefix + rel;
      try {
        validateEntryName(name);
      } catch (e) {
        throw new QcapError("input", `cannot pack ${path}: ${(e as Error).message}`);
      }
      const mode = (listed.modes[i] as number) & 0o111 ? MODE_EXEC : MODE_FILE;
      out.push(fileInput(path, name, listed.sizes[i] as number, mode));
    });
    return out;
  }
  const out: PackInput[] = [];
  // Synchronous listing: one thread-pool round trip per file would dominate with many small files.
  const walk = (d: string): void => {
    const names = readdirSync(d).sort();
    for (const n of names) {
      const path = join(d, n);
      const st = lstatSync(path);
      if (st.isDirectory()) {
        walk(path);
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
  try {
    walk(dir);
  } catch (e) {
    cannotRead(dir, e);
  }
  return out;
}

/**
 * The regular files below `dir` as `directoryInputs` finds them, in index order (UTF-8 byte order
 * of their names) and as the walk reaches them: each folder is listed and sorted when it is entered
 * (a folder's name sorts as if it ended in `/`), so only the listings of the folders on the current
 * path are held, whatever the number of files. Each iteration walks the tree again.
 */
export function walkInputs(dir: string, prefix: "payload/" | "meta/"): AsyncIterable<PackInput> {
  return {
    async *[Symbol.asyncIterator]() {
      await checkFolder(dir);
      yield* walkFolder(dir, prefix);
    },
  };
}

/** Refuses a path that is not a folder, with the errors of `directoryInputs`. */
export async function checkFolder(dir: string): Promise<void> {
  const top = await lstat(dir).catch(() => fail("input", `cannot read ${dir}: no such directory`));
  if (!top.isDirectory()) fail("input", `${dir} is not a directory`);
}

/** A folder's entries sorted for index order: folders as if their names ended in `/`. */
function sortedListing(d: string): { name: string; key: string; dir: boolean }[] {
  let listed: Dirent[];
  try {
    listed = readdirSync(d, { withFileTypes: true });
  } catch (e) {
    return cannotRead(d, e);
  }
  const out = listed.map((e) => {
    // Some file systems do not say the type in listings: then it is looked up.
    let dir = e.isDirectory();
    if (!dir && !e.isFile() && !e.isSymbolicLink()) {
      try {
        dir = lstatSync(join(d, e.name)).isDirectory();
      } catch (err) {
        return cannotRead(join(d, e.name), err);
      }
    }
    return { name: e.name, key: dir ? `${e.name}/` : e.name, dir };
  });
  return out.sort((a, b) => compareNames(a.key, b.key));
}

/** Rust's I/O errors end with "(os error N)": they get Node's code, so messages match Node's. */
function withErrnoCode(e: unknown): Error {
  const message = e instanceof Error ? e.message : String(e);
  const errno = /\(os error (\d+)\)/.exec(message)?.[1];
  const code = errno === undefined ? undefined : getSystemErrorName(-Number(errno));
  return Object.assign(new Error(message), { code });
}

/** A file of the walk as an input named `name`: the name is checked here, to name the path. */
function walkedFile(path: string, name: string, size: number, mode: number): PackInput {
  try {
    validateEntryName(name);
  } catch (e) {
    throw new QcapError("input", `cannot pack ${path}: ${(e as Error).message}`);
  }
  return fileInput(path, name, size, mode & 0o111 ? MODE_EXEC : MODE_FILE);
}

async function* walkFolder(d: string, rel: string): AsyncGenerator<PackInput> {
  const listed = await nativeList(d, qcapNative?.listFolder); // sorted for index order
  if (listed) {
    for (let i = 0; i < listed.names.length; i++) {
      const name = listed.names[i] as string;
      const path = join(d, name);
      const kind = listed.kinds[i];
      if (kind === 2) yield* walkFolder(path, `${rel}${name}/`);
      else if (kind === 0)
        yield walkedFile(path, rel + name, listed.sizes[i] as number, listed.modes[i] as number);
      else if (kind === 1) fail("input", `cannot pack ${path}: symbolic links are not packed`);
      else fail("input", `cannot pack ${path}: not a regular file`);
    }
    return;
  }
  for (const entry of sortedListing(d)) {
    const path = join(d, entry.name);
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (e) {
      return cannotRead(path, e);
    }
    // The order was chosen by the listing's type: a name that changed type meanwhile is refused.
    if (st.isDirectory() !== entry.dir) fail("input", `cannot pack ${path}: it changed while packing`);
    if (st.isDirectory()) yield* walkFolder(path, `${rel}${entry.name}/`);
    else if (st.isFile()) yield walkedFile(path, rel + entry.name, st.size, st.mode);
    else if (st.isSymbolicLink()) fail("input", `cannot pack ${path}: symbolic links are not packed`);
    else fail("input", `cannot pack ${path}: not a regular file`);
  }
}

/**
 * `walkInputs` of a folder, or the one regular file at `path` stored as `<prefix><its name>`, as
 * `fileOrDirectoryInputs` finds it.
 */
export function walkFileOrDirectory(path: string, prefix: "payload/" | "meta/"): AsyncIterable<PackInput> {
  return {
    async *[Symbol.asyncIterator]() {
      const st = await lstat(path).catch(() =>
        fail("input", `cannot read ${path}: no such file or directory`),
      );
      if (st.isDirectory()) yield* walkInputs(path, prefix);
      else yield* await fileOrDirectoryInputs(path, prefix);
    },
  };
}

/** The inputs of several walks one after the other (each must sort before the next). */
export function concatInputs(...walks: AsyncIterable<PackInput>[]): AsyncIterable<PackInput> {
  return {
    async *[Symbol.asyncIterator]() {
      for (const w of walks) yield* w;
    },
  };
}

/**
 * A folder (as `directoryInputs`) or one regular file, stored as `<prefix><its name>`; a symbolic
 * link is refused, as inside folders.
 */
export async function fileOrDirectoryInputs(
  path: string,
  prefix: "payload/" | "meta/",
): Promise<PackInput[]> {
  const st = await lstat(path).catch(() => fail("input", `cannot read ${path}: no such file or directory`));
  if (st.isDirectory()) return directoryInputs(path, prefix);
  if (st.isSymbolicLink()) fail("input", `cannot pack ${path}: symbolic links are not packed`);
  if (!st.isFile()) fail("input", `cannot pack ${path}: not a regular file`);
  const name = prefix + basename(path);
  try {
    validateEntryName(name);
  } catch (e) {
    throw new QcapError("input", `cannot pack ${path}: ${(e as Error).message}`);
  }
  return [fileInput(path, name, st.size, st.mode & 0o111 ? MODE_EXEC : MODE_FILE)];
}
