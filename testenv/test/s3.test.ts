import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { env, s3 } from "./helpers.js";

describe("S3 (versitygw)", () => {
  const bucket = `qcap-e2e-${randomBytes(4).toString("hex")}`;
  const key = "capsules/hello world.bin";
  const data = Buffer.concat([Buffer.from("0123456789"), randomBytes(64 * 1024)]);

  it("exports path-style endpoint settings", () => {
    expect(env("AWS_ENDPOINT_URL")).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env("AWS_REGION")).toBe("us-east-1");
  });

  it("creates a bucket, writes an object and reads it back, also with a Range request", async () => {
    const created = await s3({ method: "PUT", path: `/${bucket}` });
    expect(created.status, created.body.toString()).toBe(200);

    const put = await s3({
      method: "PUT",
      path: `/${bucket}/${key}`,
      body: data,
      headers: { "content-type": "application/octet-stream", "x-amz-meta-purpose": "e2e" },
    });
    expect(put.status, put.body.toString()).toBe(200);
    const etag = put.headers.get("etag");
    expect(etag).toBeTruthy();

    const full = await s3({ method: "GET", path: `/${bucket}/${key}` });
    expect(full.status).toBe(200);
    expect(full.body.equals(data)).toBe(true);
    expect(full.headers.get("x-amz-meta-purpose")).toBe("e2e");

    const range = await s3({ method: "GET", path: `/${bucket}/${key}`, headers: { range: "bytes=2-5" } });
    expect(range.status).toBe(206);
    expect(range.body.toString()).toBe("2345");
    expect(range.headers.get("content-range")).toBe(`bytes 2-5/${data.length}`);

    const suffixRange = await s3({
      method: "GET",
      path: `/${bucket}/${key}`,
      headers: { range: "bytes=-16" },
    });
    expect(suffixRange.status).toBe(206);
    expect(suffixRange.body.equals(data.subarray(data.length - 16))).toBe(true);

    const head = await s3({ method: "HEAD", path: `/${bucket}/${key}` });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(data.length));

    const list = await s3({
      method: "GET",
      path: `/${bucket}`,
      query: { "list-type": "2", prefix: "capsules/" },
    });
    expect(list.status).toBe(200);
    expect(list.body.toString()).toContain("<Key>capsules/hello world.bin</Key>");
  });

  it("rejects unsigned and wrongly signed requests", async () => {
    const anon = await fetch(`${env("AWS_ENDPOINT_URL")}/${bucket}/${encodeURIComponent(key)}`);
    expect(anon.status).toBe(403);
    const wrong = await s3(
      { method: "GET", path: `/${bucket}/${key}` },
      { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: "not-the-secret" },
    );
    expect(wrong.status).toBe(403);
  });
});
