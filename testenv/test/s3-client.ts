/** An SDK client for the test environment's S3 server: path-style requests, its credentials. */
import { S3Client } from "@aws-sdk/client-s3";
import { env } from "./helpers.js";

export function s3Client(): S3Client {
  return new S3Client({
    endpoint: env("AWS_ENDPOINT_URL"),
    region: env("AWS_REGION"),
    forcePathStyle: true,
    credentials: { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: env("AWS_SECRET_ACCESS_KEY") },
  });
}
