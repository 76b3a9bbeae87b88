/** A core `RangeSource` over an S3 object (ranged GETs), so a private capsule can be opened in place. */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { RangeSource } from "@qcap/core";

export async function s3Source(client: S3Client, bucket: string, key: string): Promise<RangeSource> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const size = Number(head.ContentLength ?? 0);
  const etag = head.ETag;
  let bytesRead = 0;
  let requests = 0;
  const name = `s3://${bucket}/${key}`;
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
      if (length === 0) return new Uint8Array(0);
      if (offset < 0 || offset + length > size) throw new RangeError(`${name}: read outside the object`);
      requests++;
      const res = await client.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          Range: `bytes=${offset}-${offset + length - 1}`,
          IfMatch: etag,
        }),
      );
      const bytes = await (
        res.Body as { transformToByteArray(): Promise<Uint8Array> }
      ).transformToByteArray();
      if (bytes.length !== length)
        throw new Error(`${name}: short read (${bytes.length} of ${length} bytes)`);
      bytesRead += bytes.length;
      return bytes;
    },
    async close() {},
  };
}
