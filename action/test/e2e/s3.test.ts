/** Upload of the capsule and its attestation to the test control plane's S3 server. */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testenv as env, qcap, visibleLog, type Workspace, workspace, writeKey } from "../helpers.js";

let ws: Workspace;
let key: ReturnType<typeof writeKey>;
let client: S3Client;
const bucket = `qcap-action-${randomBytes(4).toString("hex")}`;

const credentials = () => ({
  "s3-endpoint": env("AWS_ENDPOINT_URL"),
  "s3-bucket": bucket,
  "s3-region": env("AWS_REGION"),
  "s3-access-key-id": env("AWS_ACCESS_KEY_ID"),
  "s3-secret-access-key": env("AWS_SECRET_ACCESS_KEY"),
});

async function getObject(k: string) {
  const o = await client.send(new GetObjectCommand({ Bucket: bucket, Key: k }));
  return {
    body: Buffer.from(
      await (o.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    ),
    type: o.ContentType,
  };
}

beforeAll(async () => {
  ws = workspace("qcap-action-s3-");
  key = writeKey(ws.dir("publisher.key"));
  // Larger than one 5 MiB part, so the upload is multipart.
  writeFileSync(ws.dir("ws", "dist", "large.bin"), randomBytes(12 * 1024 * 1024 + 5));
  client = new S3Client({
    endpoint: env("AWS_ENDPOINT_URL"),
    region: env("AWS_REGION"),
    forcePathStyle: true,
    credentials: { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: env("AWS_SECRET_ACCESS_KEY") },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(() => {
  client?.destroy();
  ws?.remove();
});

describe("upload to S3", () => {
  it("uploads the capsule (multipart) and its bundle under the prefix and outputs the URL", async () => {
    const r = await ws.run({
      paths: "dist/**",
      name: "site",
      "signing-key": key.seed,
      sigstore: "key",
      "s3-prefix": "/releases/v1",
      ...credentials(),
    });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.outputs.url).toBe(`${env("AWS_ENDPOINT_URL")}/${bucket}/releases/v1/site.qcap`);
    expect(r.summary).toContain(`<a href="${r.outputs.url}">`);

    const local = readFileSync(r.outputs["capsule-path"] as string);
    const remote = await getObject("releases/v1/site.qcap");
    expect(remote.body.length).toBe(local.length);
    expect(createHash("sha256").update(remote.body).digest("hex")).toBe(
      (r.outputs.digest as string).slice(7),
    );
    expect(remote.type).toBe("application/vnd.qcap+zip");
    // A multipart upload's ETag ends with the number of parts.
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "releases/v1/" }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual([
      "releases/v1/site.qcap",
      "releases/v1/site.qcap.sigstore.json",
    ]);
    expect(listed.Contents?.[0]?.ETag).toMatch(/-3"$/);
    const bundle = await getObject("releases/v1/site.qcap.sigstore.json");
    expect(bundle.body.equals(readFileSync(r.outputs["attestation-path"] as string))).toBe(true);
    expect(bundle.type).toBe("application/json");

    // What was uploaded verifies, attestation included.
    writeFileSync(ws.dir("downloaded.qcap"), remote.body);
    writeFileSync(ws.dir("downloaded.json"), bundle.body);
    const v = qcap([
      "verify",
      ws.dir("downloaded.qcap"),
      "--attestation",
      ws.dir("downloaded.json"),
      "--trust",
      key.publicKey,
    ]);
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    expect(visibleLog(r)).not.toContain(env("AWS_SECRET_ACCESS_KEY"));
  });

  it("a refused upload fails the step with the bucket, key and reason, and never shows the secret", async () => {
    const wrong = randomBytes(20).toString("hex");
    const r = await ws.run({
      paths: "dist/README.txt",
      name: "refused",
      "signing-key": key.seed,
      attest: "false",
      ...credentials(),
      "s3-secret-access-key": wrong,
    });
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(new RegExp(`^upload to s3://${bucket}/refused\\.qcap failed: \\w+`));
    expect(visibleLog(r)).not.toContain(wrong);
    expect(r.stdout).toContain(`::add-mask::${wrong}`);
  });
});
