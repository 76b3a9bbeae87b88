/**
 * A core `Sink` that streams a capsule straight into an S3 object with lib-storage's `Upload`
 * (multipart for large objects, one PUT for small ones): no temporary file, memory bounded by
 * partSize x queueSize. Nothing is visible under the key until the upload completes; `abort()`
 * aborts the multipart upload. It also computes the sha256 of the bytes written.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { PassThrough } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { Sink } from "@qcap/core";

export interface S3Sink extends Sink {
  /** sha256 of everything written, hex; valid after close(). */
  sha256(): string;
}

export interface S3SinkOptions {
  client: S3Client;
  bucket: string;
  key: string;
  contentType?: string;
  metadata?: Record<string, string>;
  partSize?: number;
  queueSize?: number;
  /** Called when the upload's first part or single PUT starts (observability and tests). */
  onProgress?: (loaded: number) => void;
  /** Aborts the upload (the reconcile was abandoned); writes and close() then fail. */
  signal?: AbortSignal;
}

export function s3Sink(o: S3SinkOptions): S3Sink {
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  const hash = createHash("sha256");
  const abortController = new AbortController();
  if (o.signal?.aborted) abortController.abort();
  o.signal?.addEventListener("abort", () => abortController.abort(), { once: true });
  const upload = new Upload({
    abortController,
    client: o.client,
    params: {
      Bucket: o.bucket,
      Key: o.key,
      Body: body,
      ContentType: o.contentType ?? "application/vnd.qcap+zip",
      Metadata: o.metadata,
    },
    partSize: o.partSize ?? 8 * 1024 * 1024,
    queueSize: o.queueSize ?? 2,
    leavePartsOnError: false,
  });
  if (o.onProgress) upload.on("httpUploadProgress", (p) => o.onProgress?.(p.loaded ?? 0));
  // Started at once so parts flow while packing; its failure surfaces in write() or close().
  let failure: unknown = null;
  const done = upload.done().then(
    () => undefined,
    (err) => {
      failure = err;
      body.destroy();
    },
  );
  let written = 0;
  let state: "open" | "closed" | "aborted" = "open";
  let digest = "";
  return {
    get bytesWritten() {
      return written;
    },
    async write(chunk) {
      if (state !== "open") throw new Error(`write to a ${state} sink`);
      if (failure) throw failure;
      // The caller may reuse its buffer once this resolves, and PassThrough keeps a reference: copy.
      const copy = Buffer.from(chunk);
      hash.update(copy);
      written += copy.length;
      if (!body.write(copy)) {
        await Promise.race([
          once(body, "drain"),
          done.then(() => Promise.reject(failure ?? new Error("upload ended early"))),
        ]);
      }
      if (failure) throw failure;
    },
    async close() {
      if (state === "aborted") throw new Error("close of an aborted sink");
      if (state === "closed") return;
      body.end();
      await done;
      if (failure) throw failure;
      state = "closed";
      digest = hash.digest("hex");
    },
    async abort() {
      if (state !== "open") return;
      state = "aborted";
      try {
        await upload.abort();
      } catch {
        /* already failed or finished */
      }
      body.destroy();
      await done.catch(() => undefined);
    },
    sha256() {
      if (state !== "closed") throw new Error("sha256() before close()");
      return digest;
    },
  };
}
