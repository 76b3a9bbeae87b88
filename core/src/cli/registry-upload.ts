/** Uploading a capsule file to S3 (multipart when large) and removing objects, for `publish`. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform } from "node:stream";
import { DeleteObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { fail } from "../errors.js";
import type { RegistryLocation } from "../registry/s3-store.js";
import { s3Call } from "./registry-access.js";

/**
 * Streams `path` to `key`, hashing what is sent. Nothing is visible under the key before the upload
 * completes; its size is checked with a HEAD afterwards.
 */
export async function uploadFile(
  loc: RegistryLocation,
  key: string,
  path: string,
  metadata: Record<string, string>,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const file = createReadStream(path);
  file.on("error", (e) => meter.destroy(e));
  const upload = new Upload({
    client: loc.client,
    params: {
      Bucket: loc.bucket,
      Key: key,
      Body: file.pipe(meter),
      ContentType: "application/vnd.qcap+zip",
      Metadata: metadata,
    },
    partSize: 8 * 1024 * 1024,
    queueSize: 2,
    leavePartsOnError: false,
  });
  await s3Call(loc, key, () => upload.done());
  const head = await s3Call(loc, key, () =>
    loc.client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: key })),
  );
  if (head.ContentLength !== bytes)
    fail("integrity", `the uploaded s3://${loc.bucket}/${key} has ${head.ContentLength} bytes, not ${bytes}`);
  return { bytes, sha256: hash.digest("hex") };
}

/** Removes `key`; best effort (true when removed), since it only tidies up. */
export async function removeObject(loc: RegistryLocation, key: string): Promise<boolean> {
  try {
    await loc.client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}
