/**
 * HTTP(S) sources, fetched for a Capsule's author who must not reach through the operator what they
 * cannot reach themselves. Every connection goes through the egress policy (./egress.ts), judged on
 * the address the socket actually connects to: the DNS answer is checked inside the socket's lookup,
 * so a name cannot resolve to a public address for the check and a private one for the connection.
 * Redirects are followed (at most 5, never from https to http), each hop judged the same way.
 *
 * What the author sees never tells a refused address, a closed port, a DNS failure or a TLS error
 * apart ("source could not be fetched"), and never holds fetched bytes or their digest; the operator
 * log keeps the detail.
 */
import { createHash } from "node:crypto";
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import type { PackInput } from "@qcap/core";
import { ReconcileError } from "../kube/conditions.js";
import { errorMessage, type Logger } from "../log.js";
import { defaultDeny, type EgressPolicy, judge, parseEgressPolicy } from "./egress.js";

export const CANNOT_FETCH = "source could not be fetched";
const MAX_REDIRECTS = 5;

export interface HttpSourceOptions {
  policy: EgressPolicy;
  /** Largest body accepted; longer bodies are cut off while streaming. */
  maxBytes: number;
  /** Longest wait for a connection, and for each read or write once connected. */
  timeoutMs?: number;
  /** Longest time for one request, redirects and body included (a slow trickle holds a worker). */
  deadlineMs?: number;
  /**
   * A second allow-list on top of `policy` (the publisher's hosts): when set, the URL and every redirect
   * target must pass it as well. It can only narrow `policy`: a listed host still connects only to
   * addresses `policy` admits.
   */
  hostAllowed?: (url: string) => boolean;
  signal?: AbortSignal;
  /** Where the detail of a failure goes (never the author's status). */
  log?: Logger;
}

export const DEFAULT_HTTP_SOURCE_OPTIONS: HttpSourceOptions = {
  policy: parseEgressPolicy("", defaultDeny()),
  maxBytes: 2 * 1024 ** 3,
  timeoutMs: 30_000,
  deadlineMs: 30 * 60_000,
};

/** A failure with two messages: `message` for the author, `detail` for the operator log. */
export class HttpSourceError extends Error {
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
    this.name = "HttpSourceError";
  }
}

export interface HttpSourceResponse {
  status: number;
  /** Content-Length, or -1 when the server does not say. */
  size: number;
  /** The body, cut off with an error past `maxBytes` (empty for HEAD). */
  body: AsyncIterable<Uint8Array>;
}

const defaultPort = (u: URL) => (u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80);
const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, "");

/** The socket's lookup: resolves, then refuses the whole answer when any address is not admitted. */
function guardedLookup(policy: EgressPolicy, url: URL): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, "", 0);
      for (const a of addresses) {
        const v = judge(policy, url.hostname, defaultPort(url), a.address);
        if (!v.allowed) return callback(new HttpSourceError(CANNOT_FETCH, `refused: ${v.why}`), "", 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new HttpSourceError(CANNOT_FETCH, "no address"), "", 0);
      callback(null, first.address, first.family);
    });
  };
}

/** One request, no redirects followed; the response is returned unread. */
function requestOnce(url: URL, method: "GET" | "HEAD", o: HttpSourceOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const port = defaultPort(url);
    // Literal addresses skip the lookup: judge them here.
    if (isIP(bare(url.hostname))) {
      const v = judge(o.policy, url.hostname, port, bare(url.hostname));
      if (!v.allowed) return reject(new HttpSourceError(CANNOT_FETCH, `refused: ${v.why}`));
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    let req: ClientRequest;
    try {
      req = send(url, {
        method,
        agent: false,
        lookup: guardedLookup(o.policy, url),
        timeout: o.timeoutMs ?? 30_000,
        signal: o.signal,
        headers: { "accept-encoding": "identity", "user-agent": "qcap-operator" },
      });
    } catch (err) {
      return reject(err);
    }
    req.on("socket", (socket) => {
      // The address actually connected to, judged once more (covers every path to connect()).
      socket.once("connect", () => {
        const addr = socket.remoteAddress ?? "";
        const v = judge(o.policy, url.hostname, port, addr);
        if (!v.allowed) req.destroy(new HttpSourceError(CANNOT_FETCH, `refused after connect: ${v.why}`));
      });
    });
    req.on("timeout", () =>
      req.destroy(new HttpSourceError(CANNOT_FETCH, `no answer within ${o.timeoutMs ?? 30_000} ms`)),
    );
    req.on("error", reject);
    req.on("response", resolve);
    req.end();
  });
}

async function* bounded(
  res: IncomingMessage,
  maxBytes: number,
  deadline: AbortSignal,
  deadlineMs: number,
): AsyncIterable<Uint8Array> {
  let n = 0;
  const onDeadline = () =>
    res.destroy(new HttpSourceError(CANNOT_FETCH, `not complete within ${deadlineMs} ms`));
  if (deadline.aborted) onDeadline();
  deadline.addEventListener("abort", onDeadline, { once: true });
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > maxBytes)
        throw new HttpSourceError(`the source is larger than ${maxBytes} bytes`, `over ${maxBytes} bytes`);
      yield chunk;
    }
  } catch (err) {
    throw err instanceof HttpSourceError ? err : new HttpSourceError(CANNOT_FETCH, errorMessage(err));
  } finally {
    deadline.removeEventListener("abort", onDeadline);
    res.destroy();
  }
}

/**
 * Fetches `url` under the egress policy, following redirects. Every failure is an HttpSourceError
 * whose message is safe to show to the Capsule's author.
 */
export async function fetchHttpSource(
  url: string,
  o: HttpSourceOptions & { method?: "GET" | "HEAD" },
): Promise<HttpSourceResponse> {
  const method = o.method ?? "GET";
  const deadlineMs = o.deadlineMs ?? DEFAULT_HTTP_SOURCE_OPTIONS.deadlineMs ?? 0;
  const deadline = AbortSignal.timeout(deadlineMs);
  const signal = o.signal ? AbortSignal.any([deadline, o.signal]) : deadline;
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new HttpSourceError("not a valid URL", "invalid URL");
  }
  for (let hop = 0; ; hop++) {
    if (current.protocol !== "http:" && current.protocol !== "https:")
      throw new HttpSourceError(CANNOT_FETCH, `redirect to a ${current.protocol} URL`);
    if (o.hostAllowed && !o.hostAllowed(current.href))
      throw new HttpSourceError(CANNOT_FETCH, `refused: ${current.host} is not a host the publisher lists`);
    let res: IncomingMessage;
    try {
      res = await requestOnce(current, method, { ...o, signal });
    } catch (err) {
      if (err instanceof HttpSourceError) throw err;
      if (deadline.aborted) throw new HttpSourceError(CANNOT_FETCH, `not complete within ${deadlineMs} ms`);
      const e = err as { code?: string; cause?: unknown };
      const inner = e.cause instanceof HttpSourceError ? e.cause : null;
      throw inner ?? new HttpSourceError(CANNOT_FETCH, `${e.code ?? "error"}: ${errorMessage(err)}`);
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location) {
      res.destroy();
      if (hop >= MAX_REDIRECTS) throw new HttpSourceError(CANNOT_FETCH, "too many redirects");
      const next = new URL(location, current);
      if (current.protocol === "https:" && next.protocol === "http:")
        throw new HttpSourceError(CANNOT_FETCH, "redirect from https to http");
      current = next;
      continue;
    }
    if (status < 200 || status >= 300) {
      res.destroy();
      throw new HttpSourceError(`HTTP ${status}`, `HTTP ${status} from ${current.origin}`);
    }
    const length = res.headers["content-length"];
    const size = length !== undefined && /^\d+$/.test(length) ? Number(length) : -1;
    if (size > o.maxBytes) {
      res.destroy();
      throw new HttpSourceError(`the source is larger than ${o.maxBytes} bytes`, `Content-Length ${size}`);
    }
    if (method === "HEAD") res.destroy();
    return {
      status,
      size,
      body: method === "HEAD" ? (async function* () {})() : bounded(res, o.maxBytes, deadline, deadlineMs),
    };
  }
}

/** What a Capsule's `http` source spec holds. */
export interface HttpSourceSpec {
  url: string;
  sha256: string;
  name?: string;
}

/**
 * The pack input of an `http` source: its size from a HEAD request now, its bytes streamed when the
 * packer reads them, checked against the pinned sha256 (the identity that stands for its content in
 * the inputs digest).
 */
export async function httpSourceInput(
  h: HttpSourceSpec,
  pathOf: (file: string) => string,
  o: HttpSourceOptions,
): Promise<{ input: PackInput; identity: string }> {
  const url = new URL(h.url);
  const file = h.name ?? decodeURIComponent(url.pathname.split("/").filter(Boolean).pop() ?? "");
  if (!file) throw new ReconcileError("InvalidSpec", `${h.url}: give the file a name (http.name)`, true);
  const shown = `${url.origin}${url.pathname}`; // never the query, which may carry a token
  const fail = (err: unknown): never => {
    if (err instanceof ReconcileError) throw err;
    const e = err instanceof HttpSourceError ? err : new HttpSourceError(CANNOT_FETCH, errorMessage(err));
    o.log?.warn("HTTP source could not be fetched", { url: shown, detail: e.detail });
    throw new ReconcileError("SourceFetchFailed", `${shown}: ${e.message}`);
  };
  let size = -1;
  try {
    size = (await fetchHttpSource(h.url, { ...o, method: "HEAD" })).size;
  } catch (err) {
    fail(err);
  }
  if (size < 0) fail(new HttpSourceError("the server does not tell the size (no Content-Length)", "no size"));
  return {
    identity: `sha256:${h.sha256}`,
    input: {
      name: pathOf(file),
      size,
      async *read() {
        const hash = createHash("sha256");
        try {
          // Never more than the size the packer was promised.
          const res = await fetchHttpSource(h.url, { ...o, maxBytes: Math.min(o.maxBytes, size) });
          for await (const chunk of res.body) {
            hash.update(chunk);
            yield chunk;
          }
        } catch (err) {
          fail(err);
        }
        // The digest itself is never shown: it would let the author read content chosen by the server.
        if (hash.digest("hex") !== h.sha256) {
          o.log?.warn("HTTP source does not match its pinned sha256", { url: shown });
          throw new ReconcileError(
            "DigestMismatch",
            `${shown}: the content does not match spec's sha256`,
            true,
          );
        }
      },
    },
  };
}
