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

// Shared with the CLI: object URLs and one-line S3 errors.
export { isUnreachable, objectUrl, s3ErrorMessage } from "@qcap/core/registry";
