/** Upload of the capsule and its attestation to S3 or any S3-compatible store (multipart for large files). */
import { createReadStream } from "node:fs";
import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { S3Inputs } from "./inputs.js";

export class UploadError extends Error {}

export interface UploadItem {
  path: string;
  key: string;
  contentType: string;
}

/** Public URL of an object: path-style on a given endpoint, virtual-hosted on AWS. */
export function objectUrl(s3: S3Inputs, key: string): string {
  const path = key.split("/").map(encodeURIComponent).join("/");
  return s3.endpoint
    ? `${s3.endpoint}/${encodeURIComponent(s3.bucket)}/${path}`
    : `https://${s3.bucket}.s3.${s3.region}.amazonaws.com/${path}`;
}

export async function upload(s3: S3Inputs, items: UploadItem[]): Promise<void> {
  const client = new S3Client({
    region: s3.region,
    ...(s3.endpoint ? { endpoint: s3.endpoint, forcePathStyle: true } : {}),
    ...(s3.accessKeyId && s3.secretAccessKey
      ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
      : {}),
    maxAttempts: 3,
  });
  try {
    for (const item of items) {
      try {
        await new Upload({
          client,
          params: {
            Bucket: s3.bucket,
            Key: item.key,
            Body: createReadStream(item.path),
            ContentType: item.contentType,
          },
        }).done();
      } catch (e) {
        const err = e as { name?: string; message?: string; code?: string };
        const reason = [err.name, err.message || err.code].filter(Boolean).join(": ");
        throw new UploadError(`upload to s3://${s3.bucket}/${item.key} failed: ${reason}`);
      }
    }
  } finally {
    client.destroy();
  }
}
