/** S3 clients for destinations and sources: plain S3 (AWS, MinIO, versitygw…), path style by default. */
import { S3Client } from "@aws-sdk/client-s3";

export interface S3Target {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export function s3Client(t: S3Target): S3Client {
  return new S3Client({
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
  const msg = (e.message ?? String(err)).split("\n")[0];
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
