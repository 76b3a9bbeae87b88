/** A core `RangeSource` over an S3 object (ranged GETs), so a private capsule can be opened in place. */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type RangeSource, rangeSource } from "@qcap/core";

export async function s3Source(client: S3Client, bucket: string, key: string): Promise<RangeSource> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const size = Number(head.ContentLength ?? 0);
  const etag = head.ETag;
  const name = `s3://${bucket}/${key}`;
  return rangeSource(name, size, async (offset, length) => {
    const res = await client.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        Range: `bytes=${offset}-${offset + length - 1}`,
        IfMatch: etag,
      }),
    );
    return (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
  });
}
