/**
 * S3 clients for destinations and sources: plain S3 (AWS, MinIO, versitygw…), path style by default.
 * Every request is bounded: a connection timeout, an inactivity timeout on the socket, a deadline for
 * the whole call, and the caller's abort signal (the reconcile's), so an endpoint that accepts
 * connections and never answers fails the reconcile instead of holding a worker forever.
 */
import { S3Client } from "@aws-sdk/client-s3";

export interface S3Target {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Aborts every request of this client (the reconcile was abandoned). */
  signal?: AbortSignal;
}

export interface S3Timeouts {
  /** Longest wait for a TCP (and TLS) connection. */
  connectMs: number;
  /** Longest time a connected socket may stay silent, in either direction. */
  idleMs: number;
  /** Deadline of one call, retries included (a multipart upload makes one call per part). */
  requestMs: number;
}

export const DEFAULT_S3_TIMEOUTS: S3Timeouts = { connectMs: 10_000, idleMs: 30_000, requestMs: 300_000 };
let timeouts: S3Timeouts = DEFAULT_S3_TIMEOUTS;

/** Sets the timeouts of the clients made from now on (from the operator's flags, at start-up). */
export function setS3Timeouts(t: Partial<S3Timeouts>) {
  timeouts = { ...timeouts, ...t };
}

export function s3Timeouts(): S3Timeouts {
  return timeouts;
}

/** The error of a call that ran past its deadline; isUnreachable() knows it. */
export class S3DeadlineError extends Error {
  constructor(ms: number) {
    super(`no answer from the S3 endpoint within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

export function s3Client(t: S3Target): S3Client {
  const { connectMs, idleMs, requestMs } = timeouts;
  const client = new S3Client({
    requestHandler: { connectionTimeout: connectMs, socketTimeout: idleMs },
    endpoint: t.endpoint,
    region: t.region ?? "us-east-1",
    forcePathStyle: t.forcePathStyle ?? true,
    credentials: {
      accessKeyId: t.accessKeyId,
      secretAccessKey: t.secretAccessKey,
      sessionToken: t.sessionToken,
    },
    // One attempt per call: the work queue retries whole reconciles with back-off, and a dead endpoint
    // should show as a condition quickly rather than after minutes of SDK retries.
    maxAttempts: 2,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  // Every call (lib-storage's Upload included, which passes no signal of its own) gets the deadline
  // and the client's signal.
  const send = client.send.bind(client) as (
    c: unknown,
    o?: { abortSignal?: AbortSignal },
  ) => Promise<unknown>;
  const bounded = async (command: unknown, options?: { abortSignal?: AbortSignal }) => {
    const deadline = AbortSignal.timeout(requestMs);
    const signals = [deadline, t.signal, options?.abortSignal].filter((s): s is AbortSignal => !!s);
    try {
      return await send(command, { ...options, abortSignal: AbortSignal.any(signals) });
    } catch (err) {
      if (deadline.aborted && !t.signal?.aborted) throw new S3DeadlineError(requestMs);
      throw err;
    }
  };
  client.send = bounded as S3Client["send"];
  return client;
}

/** The public URL of an object: publicURL + key, or the endpoint in path style. */
export function objectUrl(
  d: { endpoint?: string; region?: string; bucket: string; publicURL?: string; prefix?: string },
  key: string,
): string {
  const enc = key.split("/").map(encodeURIComponent).join("/");
  if (d.publicURL) {
    const rel = d.prefix && key.startsWith(`${d.prefix}/`) ? key.slice(d.prefix.length + 1) : key;
    return `${d.publicURL.replace(/\/+$/, "")}/${rel.split("/").map(encodeURIComponent).join("/")}`;
  }
  const base = d.endpoint?.replace(/\/+$/, "") ?? `https://s3.${d.region ?? "us-east-1"}.amazonaws.com`;
  return `${base}/${encodeURIComponent(d.bucket)}/${enc}`;
}

/** One line for an S3 error (name, HTTP status, message). */
export function s3ErrorMessage(err: unknown): string {
  const e = err as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e.$metadata?.httpStatusCode;
  const msg = (e.message ?? String(err)).split("\n")[0]?.replace(/^@smithy\/[\w-]+ - /, "");
  return `${e.name ?? e.code ?? "Error"}${status ? ` (HTTP ${status})` : ""}: ${msg}`;
}

/** True when the error means the endpoint could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? "";
  return (
    /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR/.test(
      code,
    ) ||
    /ECONNREFUSED|socket hang up|ENOTFOUND|ETIMEDOUT|TimeoutError|connect/i.test(`${e.name} ${e.message}`)
  );
}
