/**
 * Reading small inputs (key files, grants, revocation lists, bundles) with their size limit enforced
 * while reading: a file is refused by its size before it is read, and never read past the limit
 * should it grow; an HTTP body is counted as it arrives and the transfer is aborted at the limit.
 * Only regular files are read: a FIFO or a device is refused without blocking on it.
 */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { fail, QcapError } from "../errors.js";
import { fsReason } from "../node/source.js";

export const KiB = 1024;
export const MiB = 1024 * KiB;

const human = (n: number): string => (n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`);

/**
 * Opens a regular file for reading. `O_NONBLOCK` keeps `open` from waiting for a writer on a FIFO;
 * it changes nothing for regular files. Anything else is an "input" error naming `path`.
 */
export async function openRegular(path: string, what: string): Promise<{ fh: FileHandle; size: number }> {
  const prefix = `cannot read ${what ? `${what} ` : ""}${path}`;
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return fail("input", `${prefix}: ${fsReason(e)}`, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) fail("input", `${prefix}: not a regular file`);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close().catch(() => {});
    if (e instanceof QcapError) throw e;
    return fail("input", `${prefix}: ${fsReason(e)}`, e);
  }
}

/** The bytes of the regular file `path`, at most `maxBytes` of them, else an "input" error. */
export async function readFileLimited(path: string, what: string, maxBytes: number): Promise<Uint8Array> {
  const { fh, size } = await openRegular(path, what);
  const tooLarge = () => fail("input", `${what} ${path} is larger than ${human(maxBytes)}`);
  try {
    if (size > maxBytes) tooLarge();
    // One byte more than the limit tells a file that grew past it since fstat.
    const buf = new Uint8Array(Math.min(size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      let r: number;
      try {
        ({ bytesRead: r } = await fh.read(buf, n, buf.length - n, n));
      } catch (e) {
        return fail("input", `cannot read ${what} ${path}: ${fsReason(e)}`, e);
      }
      if (r === 0) break;
      n += r;
      if (n === buf.length) {
        if (n > maxBytes) tooLarge();
        break;
      }
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close().catch(() => {});
  }
}

/** `readFileLimited` decoded as UTF-8. */
export async function readTextLimited(path: string, what: string, maxBytes: number): Promise<string> {
  return new TextDecoder().decode(await readFileLimited(path, what, maxBytes));
}

/**
 * The body of a GET of `url`, at most `maxBytes`: a larger Content-Length is refused before the
 * body is read, and a body that runs past the limit is cut off by aborting the request.
 */
export async function fetchLimited(
  url: string,
  what: string,
  maxBytes: number,
  timeoutMs: number,
): Promise<Uint8Array> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  const shown = url.replace(/[?#].*$/, "");
  const cannot = (why: string, e?: unknown): never =>
    fail("input", `cannot fetch ${what} ${shown}: ${why}`, e);
  const tooLarge = (): never => fail("input", `${what} ${shown} is larger than ${human(maxBytes)}`);
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: abort.signal, redirect: "follow" });
    } catch (e) {
      return cannot(((e as Error).cause as Error | undefined)?.message ?? (e as Error).message, e);
    }
    if (!res.ok) cannot(`HTTP ${res.status}`);
    const declared = res.headers.get("content-length");
    if (declared !== null && Number(declared) > maxBytes) tooLarge();
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (e) {
          return cannot((e as Error).message, e);
        }
        if (r.done) break;
        total += r.value.length;
        if (total > maxBytes) tooLarge();
        chunks.push(r.value);
      }
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } finally {
    clearTimeout(timer);
    // Stops a body still arriving (refused, too large or failed): the connection is closed.
    abort.abort();
  }
}

/**
 * Whether the regular file `path` starts with `{` after white space (a JSON document rather than a
 * capsule, which starts with a ZIP record): its first KiB is read, not the file.
 */
export async function startsWithBrace(path: string): Promise<boolean> {
  const { fh, size } = await openRegular(path, "");
  try {
    const head = new Uint8Array(Math.min(size, KiB));
    try {
      await fh.read(head, 0, head.length, 0);
    } catch (e) {
      return fail("input", `cannot read ${path}: ${fsReason(e)}`, e);
    }
    return /^\s*\{/.test(new TextDecoder().decode(head));
  } finally {
    await fh.close().catch(() => {});
  }
}
