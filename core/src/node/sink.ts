/** A Sink writing a local file atomically (Node only). */
import { randomBytes } from "node:crypto";
import { type FileHandle, link, lstat, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fail, QcapError } from "../errors.js";
import type { Sink } from "../io/sink.js";
import { fsReason } from "./source.js";
import { forgetTemp, rememberTemp } from "./temp-files.js";

/** Small writes are gathered into a buffer of this size before they reach the file. */
export const FILE_SINK_BUFFER = 1024 * 1024;
/** Bytes written between background data syncs. */
const SYNC_EVERY = 64 * 1024 * 1024;

export interface FileSink extends Sink {
  /** The final path. */
  readonly path: string;
  /** The temporary file written until `close()` renames it to `path`. */
  readonly tempPath: string;
}

export interface FileSinkOptions {
  /** Bytes gathered before a write (default `FILE_SINK_BUFFER`). */
  bufferSize?: number;
  /**
   * Sync the data to disk before the rename (and the folder after it), so that the capsule survives
   * a power loss once `close()` has resolved. Off by default, as with age, tar and cp: a whole-GiB
   * fsync costs as much as sealing the data, and a capsule damaged by a crash fails `verify`.
   */
  durable?: boolean;
  /** Replace an existing file at `path` (default true); when false, `close()` refuses to. */
  replace?: boolean;
}

/**
 * Renames `temp` to `path`; without `replace`, links it instead (which fails with EEXIST when
 * `path` exists, even if it appeared during the run) and removes `temp`.
 */
export async function moveIntoPlace(temp: string, path: string, replace: boolean): Promise<void> {
  if (replace) return rename(temp, path);
  try {
    await link(temp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || !NO_HARD_LINKS.has(code ?? "")) throw e;
    // A file system without hard links: check, then rename (a narrow race instead of none).
    if (
      await lstat(path).then(
        () => true,
        () => false,
      )
    )
      throw Object.assign(new Error(`${path} exists`), { code: "EEXIST" });
    return rename(temp, path);
  }
  await unlink(temp);
}

/** Errors of link(2) on file systems that have no hard links (FAT, some network and FUSE mounts). */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK", "EXDEV"]);

/**
 * Writes to `.<basename>.<random>.tmp` next to `path` (mode 0644, less the umask), gathering small
 * writes into a ~1 MiB buffer (chunks at least that large go straight to the file, uncopied);
 * `close()` flushes and renames the file into place (syncing first when `durable`), `abort()`
 * removes it. Errors are QcapError "input": `cannot write <path>: <reason>`.
 */
export async function fileSink(path: string, options: FileSinkOptions = {}): Promise<FileSink> {
  const bufferSize = options.bufferSize ?? FILE_SINK_BUFFER;
  const durable = options.durable ?? false;
  const tempPath = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const error = (e: unknown): never => {
    if (e instanceof QcapError) throw e;
    return fail("input", `cannot write ${path}: ${fsReason(e)}`, e);
  };
  let fh: FileHandle;
  // Recorded before it exists: a signal can arrive while the file is created and the open is pending.
  rememberTemp(tempPath);
  try {
    fh = await open(tempPath, "wx", 0o644);
  } catch (e) {
    forgetTemp(tempPath);
    return error(e);
  }

  // Two buffers: one fills while the other is being written (write-behind), so copying and CRC
  // work overlap with the file system. A chunk at least as large as a buffer is written directly.
  let buf: Uint8Array = new Uint8Array(bufferSize);
  let other: Uint8Array | null = null;
  let buffered = 0;
  let position = 0; // file offset after every write issued so far
  let bytesWritten = 0;
  let inFlight: Promise<void> | null = null;
  let inFlightError: unknown = null;
  let state: "open" | "busy" | "closed" | "aborted" | "failed" = "open";

  // Durability with less waiting: when `durable`, every SYNC_EVERY bytes a data sync starts in the
  // background, so the disk writes back while packing goes on and `close()`'s fsync has little
  // left to flush.
  let unsynced = 0;
  let syncing: Promise<void> | null = null;
  let syncError: unknown = null;
  const writeAll = async (bytes: Uint8Array, at: number): Promise<void> => {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten: n } = await fh.write(bytes, done, bytes.length - done, at + done);
      done += n;
    }
    written(bytes.length);
  };
  /** Counts bytes written to the file; starts a background data sync every SYNC_EVERY when durable. */
  const written = (n: number): void => {
    unsynced += n;
    if (durable && unsynced >= SYNC_EVERY && syncing === null) {
      unsynced = 0;
      syncing = fh.datasync().then(
        () => {
          syncing = null;
        },
        (e: unknown) => {
          syncError ??= e;
          syncing = null;
        },
      );
    }
  };
  /** Waits for the write in flight; rethrows its error. */
  const settle = async (): Promise<void> => {
    if (inFlight !== null) {
      await inFlight;
      inFlight = null;
    }
    if (inFlightError !== null) throw inFlightError;
  };
  /** Starts writing the buffer and switches to the other one. */
  const flush = async (): Promise<void> => {
    if (buffered === 0) return;
    await settle();
    const full = buf;
    inFlight = writeAll(full.subarray(0, buffered), position).catch((e: unknown) => {
      inFlightError = e;
    });
    position += buffered;
    buffered = 0;
    buf = other ?? new Uint8Array(bufferSize);
    other = full;
  };
  /** Runs `op` exclusively; a failure leaves the sink failed (only `abort()` remains). */
  const run = async (op: () => Promise<void>): Promise<void> => {
    if (state !== "open")
      throw new Error(`fileSink ${path}: ${state === "busy" ? "concurrent call" : `sink is ${state}`}`);
    state = "busy";
    try {
      await op();
      state = "open";
    } catch (e) {
      state = "failed";
      error(e);
    }
  };

  return {
    path,
    tempPath,
    get bytesWritten() {
      return bytesWritten;
    },
    write(chunk) {
      // Fast path: the chunk fits in the buffer; no I/O, no awaiting.
      if (state === "open" && buffered + chunk.length < bufferSize) {
        buf.set(chunk, buffered);
        buffered += chunk.length;
        bytesWritten += chunk.length;
        return Promise.resolve();
      }
      return run(async () => {
        if (chunk.length >= bufferSize) {
          await flush();
          await settle();
          const at = position;
          position += chunk.length;
          await writeAll(chunk, at);
        } else {
          let at = 0;
          while (at < chunk.length) {
            const n = Math.min(chunk.length - at, bufferSize - buffered);
            buf.set(chunk.subarray(at, at + n), buffered);
            buffered += n;
            at += n;
            if (buffered === bufferSize) await flush();
          }
        }
        bytesWritten += chunk.length;
      });
    },
    writeAt(length, fill) {
      return run(async () => {
        await flush();
        await settle();
        const at = position;
        position += length;
        await fill(fh.fd, at);
        written(length);
        bytesWritten += length;
      });
    },
    async close() {
      await run(async () => {
        await flush();
        await settle();
        await syncing;
        if (syncError !== null) throw syncError;
        if (durable) await fh.sync();
        await fh.close();
        try {
          await moveIntoPlace(tempPath, path, options.replace ?? true);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EEXIST")
            fail("input", `refusing to overwrite ${path} (use --force to replace it)`);
          throw e;
        }
        forgetTemp(tempPath);
      });
      state = "closed";
      if (!durable) return;
      // Make the rename durable too; directories cannot be opened everywhere (Windows): best effort.
      try {
        const dir = await open(dirname(path), "r");
        await dir.sync().finally(() => dir.close());
      } catch {}
    },
    async abort() {
      if (state === "closed" || state === "aborted") return;
      state = "aborted";
      await inFlight;
      await syncing;
      await fh.close().catch(() => {});
      await unlink(tempPath).catch(() => {});
      forgetTemp(tempPath);
    },
  };
}
