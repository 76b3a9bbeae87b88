/** Errors of a reconcile as conditions: what could not be done, and whether retrying can help. */
import { QcapError } from "@qcap/core";
import { RegistryError } from "@qcap/core/registry";
import { ReconcileError } from "./kube/conditions.js";
import { errorMessage } from "./log.js";
import { isUnreachable, s3ErrorMessage } from "./s3/client.js";

/** Runs an S3 call, turning its errors into conditions that say what could not be done. */
export async function destinationCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classify(err, what);
  }
}

/** Maps any error to a condition reason and message. */
export function classify(err: unknown, what?: string): ReconcileError {
  if (err instanceof ReconcileError) return err;
  if (err instanceof RegistryError) {
    // Conflicts are other writers at work: retry. A server without conditional writes or a prefix
    // holding something else needs the destination fixed.
    if (err.code === "conflict") return new ReconcileError("RegistryConflict", err.message);
    if (err.code === "unconditional-server")
      return new ReconcileError("ConditionalWritesUnsupported", err.message, true);
    if (err.code === "not-a-registry") return new ReconcileError("NotARegistry", err.message, true);
  }
  if (err instanceof QcapError) {
    const permanent = err.kind === "input" || err.kind === "usage";
    return new ReconcileError(permanent ? "InvalidInput" : "PackFailed", err.message, permanent);
  }
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.$metadata || isUnreachable(err)) {
    const msg = `cannot ${what ?? "reach the destination"}: ${s3ErrorMessage(err)}`;
    if (isUnreachable(err)) return new ReconcileError("DestinationUnreachable", msg);
    if (e.name === "NoSuchBucket") return new ReconcileError("BucketNotFound", msg);
    if (
      /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|Forbidden/.test(e.name ?? "") ||
      e.$metadata?.httpStatusCode === 403
    )
      return new ReconcileError("AccessDenied", msg);
    return new ReconcileError("UploadFailed", msg);
  }
  return new ReconcileError("ReconcileError", errorMessage(err));
}
