/**
 * Random-access byte sources: memory, Blob/File (browsers), HTTP range requests, and a wrapper that
 * serves a file's tail from memory. The Node file source is in `node/source.ts`.
 */
import { fail, QcapError } from "../errors.js";

export interface RangeSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Exactly `length` bytes from `offset`. The range must lie inside `[0, size)`; a range outside is
   * a QcapError "format" (a capsule that claims more bytes than the file has is truncated).
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: fills `target` with the `target.length` bytes at `offset`, for sources that can read
   * into a caller's buffer (the local file source) and so spare an allocation per read.
   */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
  /**
   * Optional: the open file descriptor of a local file source, so that other threads can read it
   * themselves with positioned reads (block engines on Node). Valid until `close()`.
   */
  readonly fd?: number;
  close(): Promise<void>;
  /** Bytes fetched from the underlying storage so far (for HTTP, bytes received). */
  readonly bytesRead: number;
  /** Read requests sent to the underlying storage so far (for HTTP, requests sent). */
  readonly requests: number;
  /** For messages: a path, or a URL without its query string. */
  readonly name: string;
}

/** Fills `target` from `src` at `offset`, with `readInto` when the source has it. */
export async function readInto(src: RangeSource, offset: number, target: Uint8Array): Promise<void> {
  if (src.readInto) return src.readInto(offset, target);
  target.set(await src.read(offset, target.length));
}

/** Throws unless `[offset, offset + length)` is a valid range inside a source of `size` bytes. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`${name}: invalid read range (offset ${offset}, length ${length})`);
  }
  if (offset + length > size) {
    fail(
      "format",
      `truncated or not a capsule: ${name} has ${size} bytes, read of ${length} at ${offset} needs more`,
    );
  }
}

/**
 * A source from one fetch function: ranges are checked, empty reads answered without a request, and
 * requests and bytes counted, so each transport only says how to fetch bytes.
 */
export function rangeSource(
  name: string,
  size: number,
  fetch: (offset: number, length: number) => Promise<Uint8Array>,
  close: () => Promise<void> = async () => {},
): RangeSource {
  let bytesRead = 0;
  let requests = 0;
  return {
    size,
    name,
    get bytesRead() {
      return bytesRead;
    },
    get requests() {
      return requests;
    },
    async read(offset, length) {
      checkRange(name, size, offset, length);
      if (length === 0) return new Uint8Array(0);
      requests++;
      const bytes = await fetch(offset, length);
      if (bytes.length !== length) fail("input", `cannot read ${name}: short read`);
      bytesRead += length;
      return bytes;
    },
    close,
  };
}

/** A source over bytes in memory. Reads return copies. */
export function bytesSource(bytes: Uint8Array, name = "<memory>"): RangeSource {
  return rangeSource(name, bytes.length, async (offset, length) => bytes.slice(offset, offset + length));
}

/** A source over a Blob or File (browsers; Node 20's `fs.openAsBlob` sizes are wrong above 4 GiB). */
export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? "<blob>"): RangeSource {
  return rangeSource(name, blob.size, async (offset, length) => {
    try {
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    } catch (e) {
      return fail("input", `cannot read ${name}: ${oneLine(e)}`, e);
    }
  });
}

// --- HTTP -------------------------------------------------------------------------------------

/**
 * Default of `httpSource`'s `tail` option: 64 KiB holds the end records, central directory, manifest
 * and signature of capsules of up to about 150 entries, and keeps a range read of 1 MiB under
 * 1.25 MiB transferred in all; larger directories cost one more request.
 */
export const DEFAULT_HTTP_TAIL = 64 * 1024;

export interface HttpSourceInit {
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** The fetch to use; the global one by default. */
  fetch?: typeof fetch;
  /**
   * The first request, which learns the size, asks for the last `tail` bytes of the file (a suffix
   * range) and keeps them in memory; reads inside them need no further request. A capsule's end
   * records, central directory, manifest and signature usually all arrive in this one response.
   * 0 makes the first request a one-byte range. Default `DEFAULT_HTTP_TAIL` (64 KiB).
   */
  tail?: number;
}

/** A message on one line, from an Error (and its cause, as undici's "fetch failed" has one). */
function oneLine(e: unknown): string {
  let msg = e instanceof Error ? e.message : String(e);
  const cause =
    e instanceof Error ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause === "object") {
    const detail =
      typeof cause.code === "string" ? cause.code : typeof cause.message === "string" ? cause.message : "";
    if (detail && !msg.includes(detail)) msg = `${msg} (${detail})`;
  }
  return msg.replace(/\s+/g, " ").trim();
}

/** Whether a fetch failed because the server closed or reset the connection (undici's codes). */
function connectionDropped(e: unknown): boolean {
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === "string" ? cause.code : "";
  return ["UND_ERR_SOCKET", "UND_ERR_CLOSED", "ECONNRESET", "EPIPE"].includes(code);
}

/** A URL for messages: no credentials, no query string or fragment (they often hold tokens). */
function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url.split(/[?#]/, 1)[0] ?? url;
  }
}

/** Reads a response body of exactly `expected` bytes, refusing to take more. */
async function readBody(res: Response, expected: number, name: string): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  let got = 0;
  if (res.body === null) {
    if (expected === 0) return out;
    return fail("input", `cannot read ${name}: empty response body`);
  }
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (got + value.length > expected) {
        await reader.cancel().catch(() => {});
        fail("input", `cannot read ${name}: the server sent more bytes than requested`);
      }
      out.set(value, got);
      got += value.length;
    }
  } catch (e) {
    if (e instanceof QcapError) throw e;
    return fail("input", `cannot read ${name}: ${oneLine(e)}`, e);
  }
  if (got !== expected)
    fail("input", `cannot read ${name}: response ended after ${got} of ${expected} bytes`);
  return out;
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/;
const IGNORES_RANGES =
  "the server ignores HTTP range requests (status 200 instead of 206); range reads need one that supports them";
const NO_CONTENT_RANGE =
  "the server sent no usable Content-Range with the file size (a cross-origin server must expose it: " +
  "Access-Control-Expose-Headers: Content-Range)";
const UNSATISFIED_RANGE = /^bytes \*\/(\d+)$/;

/**
 * A source reading a URL with HTTP range requests (`Range: bytes=a-b`). Each read demands status 206
 * and exactly the `Content-Range` asked for; a server that ignores ranges is refused (status 200 is
 * only accepted for the first request when the whole file fits in `tail`), without downloading the
 * whole file. A server that answers the first, suffix range (`bytes=-tail`) with the whole file
 * but honours `bytes=a-b` costs one more request. Network and HTTP errors are QcapError "input"
 * with a one-line message. Browsers: a cross-origin server must allow the Range request header and
 * expose Content-Range (CORS).
 */
export async function httpSource(url: string, init: HttpSourceInit = {}): Promise<RangeSource> {
  const doFetch = init.fetch ?? globalThis.fetch;
  const name = displayUrl(url);
  const tail = init.tail ?? DEFAULT_HTTP_TAIL;
  if (!Number.isSafeInteger(tail) || tail < 0) throw new RangeError(`httpSource: invalid tail ${tail}`);
  let bytesRead = 0;
  let requests = 0;

  const request = async (range: string): Promise<Response> => {
    // A range GET is idempotent: when the connection it went out on was closed under it (a server
    // dropping an idle keep-alive connection as the request was sent), it is sent once more, on a
    // new connection.
    for (let attempt = 1; ; attempt++) {
      requests++;
      try {
        return await doFetch(url, {
          // The Fetch standard adds "Accept-Encoding: identity" to requests with a Range header.
          headers: { ...init.headers, Range: range },
          redirect: "follow",
        });
      } catch (e) {
        if (attempt === 1 && connectionDropped(e)) continue;
        return fail("input", `cannot read ${name}: ${oneLine(e)}`, e);
      }
    }
  };
  const refuse = async (res: Response, msg: string): Promise<never> => {
    await res.body?.cancel().catch(() => {});
    return fail("input", `cannot read ${name}: ${msg}`);
  };
  const httpError = (res: Response): Promise<never> =>
    refuse(res, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
  const checkEncoding = async (res: Response): Promise<void> => {
    const enc = res.headers.get("content-encoding");
    if (enc !== null && enc.toLowerCase() !== "identity")
      await refuse(res, `unexpected content encoding "${enc}"`);
  };

  /**
   * Learns the size with a suffix range of `suffix` bytes (kept as the cache), or a one-byte range
   * when `suffix` is 0. Null when a suffix range got the whole (too large) file: some servers
   * support only `bytes=a-b` ranges, so the caller retries with a one-byte range.
   */
  const probe = async (suffix: number): Promise<{ size: number; cache: Uint8Array } | null> => {
    const res = await request(suffix > 0 ? `bytes=-${suffix}` : "bytes=0-0");
    if (res.status === 206) {
      await checkEncoding(res);
      const m = CONTENT_RANGE.exec(res.headers.get("content-range") ?? "");
      if (!m) return refuse(res, NO_CONTENT_RANGE);
      const first = Number(m[1]);
      const last = Number(m[2]);
      const size = Number(m[3]);
      const expectFirst = suffix > 0 ? Math.max(0, size - suffix) : 0;
      const expectLast = suffix > 0 ? size - 1 : 0;
      if (!Number.isSafeInteger(size) || first !== expectFirst || last !== expectLast) {
        return refuse(res, `unexpected Content-Range "${m[0]}"`);
      }
      const body = await readBody(res, last - first + 1, name);
      bytesRead += body.length;
      return { size, cache: suffix > 0 ? body : new Uint8Array(0) };
    }
    if (res.status === 416) {
      // A suffix or first-byte range of an empty file cannot be satisfied.
      const m = UNSATISFIED_RANGE.exec(res.headers.get("content-range") ?? "");
      await res.body?.cancel().catch(() => {});
      if (!m || Number(m[1]) !== 0) return httpError(res);
      return { size: 0, cache: new Uint8Array(0) };
    }
    if (res.status === 200) {
      // The range was ignored. Fine if the whole file is no larger than what we asked for.
      await checkEncoding(res);
      const length = Number(res.headers.get("content-length") ?? Number.NaN);
      if (Number.isSafeInteger(length) && length <= Math.max(suffix, 1)) {
        const body = await readBody(res, length, name);
        bytesRead += length;
        return { size: length, cache: body };
      }
      if (suffix > 0) {
        await res.body?.cancel().catch(() => {});
        return null;
      }
      return refuse(res, IGNORES_RANGES);
    }
    return httpError(res);
  };

  // First request: learn the size, and fetch the tail.
  const found = (await probe(tail)) ?? (await probe(0));
  if (found === null) throw new Error("unreachable");
  const size = found.size;
  let cache = found.cache;
  const cacheStart = size - cache.length;

  let closed = false;
  return {
    size,
    name,
    get bytesRead() {
      return bytesRead;
    },
    get requests() {
      return requests;
    },
    async read(offset, length) {
      if (closed) throw new Error(`${name}: source is closed`);
      checkRange(name, size, offset, length);
      if (length === 0) return new Uint8Array(0);
      if (offset >= cacheStart) return cache.slice(offset - cacheStart, offset - cacheStart + length);
      const last = offset + length - 1;
      const res = await request(`bytes=${offset}-${last}`);
      if (res.status === 200) return refuse(res, IGNORES_RANGES);
      if (res.status !== 206) return httpError(res);
      await checkEncoding(res);
      const cr = res.headers.get("content-range");
      if (cr !== `bytes ${offset}-${last}/${size}`) {
        const m = CONTENT_RANGE.exec(cr ?? "");
        if (m && Number(m[3]) !== size) return refuse(res, `the file changed size (${size} → ${m[3]} bytes)`);
        return refuse(res, `unexpected Content-Range "${cr ?? ""}" for bytes ${offset}-${last}`);
      }
      const body = await readBody(res, length, name);
      bytesRead += length;
      return body;
    },
    async close() {
      closed = true;
      cache = new Uint8Array(0);
    },
  };
}

// --- tail cache -------------------------------------------------------------------------------

/**
 * Wraps `src`: reads its last `tailBytes` once, now, and serves reads inside them from memory. A read
 * that starts before the cached tail fetches only the part before it. `bytesRead` and `requests`
 * are those of `src`. Used so that a remote capsule's end records, central directory, manifest and
 * signature arrive in one request (an `httpSource` whose own `tail` covers `tailBytes` serves this
 * from its first response: no request at all).
 */
export async function tailCachedSource(src: RangeSource, tailBytes: number): Promise<RangeSource> {
  if (!Number.isSafeInteger(tailBytes) || tailBytes < 0)
    throw new RangeError(`invalid tail size ${tailBytes}`);
  const n = Math.min(tailBytes, src.size);
  const start = src.size - n;
  let cache: Uint8Array = n > 0 ? await src.read(start, n) : new Uint8Array(0);
  return {
    size: src.size,
    name: src.name,
    get bytesRead() {
      return src.bytesRead;
    },
    get requests() {
      return src.requests;
    },
    async read(offset, length) {
      checkRange(src.name, src.size, offset, length);
      if (offset >= start) return cache.slice(offset - start, offset - start + length);
      if (offset + length <= start) return src.read(offset, length);
      const out = new Uint8Array(length);
      out.set(await src.read(offset, start - offset), 0);
      out.set(cache.subarray(0, offset + length - start), start - offset);
      return out;
    },
    async close() {
      cache = new Uint8Array(0);
      await src.close();
    },
  };
}
