/**
 * S3 failures as one line each, and as the registry's errors with the CLI's exit codes (SPEC §10):
 * 2 for what the user named wrongly (bucket, endpoint, not a registry), 1 for refused access and for
 * an update that could not be completed.
 */
import { QcapError } from "../errors.js";

export type RegistryErrorCode =
  | "no-such-bucket"
  | "access-denied"
  | "no-credentials"
  | "no-region"
  | "unreachable"
  | "not-a-registry"
  | "conflict"
  | "unconditional-server"
  | "s3";

const INPUT_CODES: ReadonlySet<RegistryErrorCode> = new Set([
  "no-such-bucket",
  "no-credentials",
  "no-region",
  "unreachable",
  "not-a-registry",
]);

export class RegistryError extends QcapError {
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(
      INPUT_CODES.has(code) ? "input" : code === "access-denied" ? "unauthorized" : "integrity",
      message,
      options,
    );
  }

  override get exitCode(): 1 | 2 {
    return INPUT_CODES.has(this.code) ? 2 : 1;
  }
}

interface S3ErrorShape {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  cause?: { code?: string };
  $metadata?: { httpStatusCode?: number };
}

/** The HTTP status of an SDK error, if it got an answer. */
export const httpStatus = (err: unknown): number | undefined =>
  (err as S3ErrorShape)?.$metadata?.httpStatusCode;

/** One line for an S3 error (name, HTTP status, message). */
export function s3ErrorMessage(err: unknown): string {
  const e = err as S3ErrorShape;
  const status = e.$metadata?.httpStatusCode;
  const msg = (e.message ?? String(err)).split("\n")[0]?.replace(/^@smithy\/[\w-]+ - /, "");
  return `${e.name ?? e.code ?? "Error"}${status ? ` (HTTP ${status})` : ""}: ${msg}`;
}

/** True when the error means the endpoint could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  const e = err as S3ErrorShape;
  const code = e.code ?? e.cause?.code ?? "";
  return (
    /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR/.test(
      code,
    ) ||
    /ECONNREFUSED|socket hang up|ENOTFOUND|ETIMEDOUT|TimeoutError|connect/i.test(`${e.name} ${e.message}`)
  );
}

/** True for a failed precondition or a conflicting concurrent write: re-read and try again. */
export const isWriteConflict = (err: unknown): boolean => {
  const s = httpStatus(err);
  const name = (err as S3ErrorShape)?.name ?? "";
  return s === 412 || s === 409 || name === "PreconditionFailed" || name === "ConditionalRequestConflict";
};

export const isNotFound = (err: unknown): boolean => {
  const e = err as S3ErrorShape;
  return (
    e?.name === "NoSuchKey" ||
    e?.name === "NotFound" ||
    (httpStatus(err) === 404 && e?.name !== "NoSuchBucket")
  );
};

/**
 * The registry error for a failed call on `target` (s3://bucket/key): the usual causes named, the
 * rest as the server said it. A RegistryError passes through.
 */
export function registryError(err: unknown, target: string, bucket: string): RegistryError {
  if (err instanceof RegistryError) return err;
  const e = err as S3ErrorShape;
  const name = e?.name ?? "";
  const status = httpStatus(err);
  if (name === "NoSuchBucket")
    return new RegistryError("no-such-bucket", `no such bucket "${bucket}"`, { cause: err });
  if (name === "CredentialsProviderError" || /Could not load credentials/i.test(e?.message ?? ""))
    return new RegistryError(
      "no-credentials",
      "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
      { cause: err },
    );
  if (/Region is missing/i.test(e?.message ?? ""))
    return new RegistryError("no-region", "no AWS region: set AWS_REGION, a profile region or --region", {
      cause: err,
    });
  if (
    status === 403 ||
    name === "AccessDenied" ||
    name === "InvalidAccessKeyId" ||
    name === "SignatureDoesNotMatch"
  )
    return new RegistryError("access-denied", `access denied to ${target} (${name || `HTTP ${status}`})`, {
      cause: err,
    });
  if (isUnreachable(err))
    return new RegistryError("unreachable", `cannot reach the S3 endpoint: ${s3ErrorMessage(err)}`, {
      cause: err,
    });
  return new RegistryError("s3", `${target}: ${s3ErrorMessage(err)}`, { cause: err });
}
