/**
 * revocations.json is written by compare-and-swap: a list changed by another writer between read and
 * write is not overwritten; the reconcile fails with RegistryConflict and retries from a fresh read.
 * Against a small in-process S3 stand-in that honours If-Match / If-None-Match.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { S3Client } from "@aws-sdk/client-s3";
import { parseSigningKey } from "@qcap/core";
import { parseRevocationList, serializeRevocationList, updateRevocationList } from "@qcap/core/grant";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReconcileError } from "../../src/kube/conditions.js";
import { ensureRevocations, REVOCATION_VALIDITY_MS } from "../../src/registry/revocations.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const objects = new Map<string, Buffer>();
let afterGet: (() => void) | undefined;
const etagOf = (b: Buffer) => `"${createHash("md5").update(b).digest("hex")}"`;
let server: Server;
let client: S3Client;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const key = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const current = objects.get(key);
      const error = (status: number, code: string) =>
        res
          .writeHead(status, { "content-type": "application/xml" })
          .end(`<Error><Code>${code}</Code></Error>`);
      if (req.method === "GET") {
        if (!current) return error(404, "NoSuchKey");
        res.writeHead(200, { etag: etagOf(current) }).end(current);
        const f = afterGet;
        afterGet = undefined;
        return f?.();
      }
      if (req.method !== "PUT") return error(405, "MethodNotAllowed");
      const ifMatch = req.headers["if-match"];
      if (req.headers["if-none-match"] === "*" && current) return error(412, "PreconditionFailed");
      if (ifMatch !== undefined && (!current || ifMatch !== etagOf(current)))
        return error(412, "PreconditionFailed");
      const body = Buffer.concat(chunks);
      objects.set(key, body);
      res.writeHead(200, { etag: etagOf(body) }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  client = new S3Client({
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "k", secretAccessKey: "s" },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client.destroy();
  await new Promise((r) => server.close(r));
});

describe("revocations.json updates", () => {
  const key = parseSigningKey("11".repeat(32));
  const loc = () => ({ client, bucket: "b", prefix: "reg" });
  const stored = () => parseRevocationList(objects.get("/b/reg/revocations.json")?.toString() ?? "");

  it("creates the list, adds to it, and does not overwrite a list changed meanwhile", async () => {
    const now = Date.parse("2026-06-01T00:00:00Z");
    await ensureRevocations(loc(), key, null, now);
    await ensureRevocations(loc(), key, { ids: ["a".repeat(32)], reason: "test" }, now + 1000);
    expect(stored().revoked.map((r) => r.id)).toEqual(["a".repeat(32)]);

    // Another writer adds a revocation right after our read.
    afterGet = () => {
      const list = updateRevocationList(stored(), {
        key,
        ids: ["b".repeat(32)],
        reason: "other",
        now: now + 2000,
        validity: REVOCATION_VALIDITY_MS,
      });
      objects.set("/b/reg/revocations.json", Buffer.from(serializeRevocationList(list)));
    };
    const err = await ensureRevocations(
      loc(),
      key,
      { ids: ["c".repeat(32)], reason: "ours" },
      now + 3000,
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ReconcileError);
    expect(err.reason).toBe("RegistryConflict");
    expect(stored().revoked.map((r) => r.id)).toEqual(["a".repeat(32), "b".repeat(32)]);

    // The retry builds on the other writer's list.
    await ensureRevocations(loc(), key, { ids: ["c".repeat(32)], reason: "ours" }, now + 4000);
    expect(stored().revoked.map((r) => r.id)).toEqual(["a".repeat(32), "b".repeat(32), "c".repeat(32)]);
  });
});
