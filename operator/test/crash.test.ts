// The operator is killed (SIGKILL) in the middle of an upload: nothing half-written is referenced by the
// registry or the status, and the next operator converges, cleaning up the interrupted upload.
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allowServiceAccount,
  apply,
  type CapsuleView,
  condition,
  ensureBucket,
  exampleNamespace,
  examplePublisher,
  getJson,
  getObject,
  kubectl,
  listKeys,
  must,
  type OperatorProcess,
  qcap,
  s3Client,
  startOperator,
  type TestKey,
  uniqueBucket,
  waitFor,
  waitReady,
} from "./support.ts";

const BUCKET = uniqueBucket("crash");
const s3 = s3Client();
let ns: string;
let dir: string;
let publisher: TestKey;
let reader: TestKey;
let op: OperatorProcess;
let http: Server;
let port = 0;

// What the HTTP source serves; `held` stops the body after `holdAfter` bytes until released.
let content: Buffer = Buffer.from("small first version\n");
let holdAfter = Number.POSITIVE_INFINITY;
let release: () => void = () => {};
const held = new Promise<void>((r) => {
  release = r;
});
let served = 0;

beforeAll(async () => {
  await ensureBucket(s3, BUCKET);
  ({ ns, dir, publisher, reader } = await exampleNamespace("crash", BUCKET));
  http = createServer(async (req, res) => {
    const body = content;
    res.writeHead(200, { "content-length": body.length, "content-type": "application/octet-stream" });
    if (req.method === "HEAD") return res.end();
    res.on("error", () => {});
    const first = body.subarray(0, Math.min(holdAfter, body.length));
    served = 0;
    res.write(first, () => {
      served = first.length;
    });
    if (first.length < body.length) await held;
    res.end(body.subarray(first.length));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  port = (http.address() as { port: number }).port;
  await apply(
    ns,
    examplePublisher("crash-publisher", BUCKET, {
      "prefix: registry": "prefix: crash",
      "allowedKinds: [configMap, inline]": "allowedKinds: [http]\n    http:\n      allowedHosts: [127.0.0.1]",
    }),
  );
  await allowServiceAccount(ns, "use-crash-publisher", [
    {
      apiGroups: ["qcap.dev"],
      resources: ["publishers"],
      resourceNames: ["crash-publisher"],
      verbs: ["use"],
    },
  ]);
  op = startOperator(ns, allowSource());
});

afterAll(async () => {
  release();
  await op?.kill("SIGKILL");
  http?.closeAllConnections();
  http?.close();
});

// The HTTP source is on 127.0.0.1: the publisher lists the host, and the operator-wide policy must admit
// the loopback address as well.
const allowSource = () => ["--http-source-allow", `127.0.0.1:${port}`];

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

const capsule = (sha: string) => ({
  apiVersion: "qcap.dev/v1alpha1",
  kind: "Capsule",
  metadata: { name: "big" },
  spec: {
    sources: [{ http: { url: `http://127.0.0.1:${port}/data/big.bin`, sha256: sha } }],
    recipients: [{ key: reader.recipient }],
    publisherRef: { name: "crash-publisher" },
  },
});

const uploadsUnder = async (prefix: string) =>
  ((await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }))).Uploads ?? []).map(
    (u) => u.Key,
  );

describe("crash during upload", () => {
  it("a kill mid-upload leaves the registry on the last complete artifact; the next run converges", async () => {
    const folder = `crash/${ns}/big/`;
    await apply(ns, JSON.stringify(capsule(sha256(content))));
    const v1 = await waitReady<CapsuleView>(ns, "capsule/big");
    const key1 = v1.status?.artifact?.key as string;

    // A 40 MiB second version, served up to 20 MiB and then held: the upload is in progress.
    content = randomBytes(40 * 1024 * 1024);
    holdAfter = 20 * 1024 * 1024;
    await apply(ns, JSON.stringify(capsule(sha256(content))));
    await waitFor(
      "a multipart upload in progress",
      async () => (await uploadsUnder(folder)).length > 0,
      60_000,
    );
    await waitFor("the source to be half served", () => served >= holdAfter, 30_000, 50);
    expect(op.has("upload started")).toBe(true);
    expect(op.has("upload completed", (l) => l.key !== key1)).toBe(false);
    await op.kill("SIGKILL");

    // Nothing half-written is visible or referenced.
    expect(await listKeys(s3, BUCKET, folder)).toEqual([key1]);
    const idx = JSON.parse((await getObject(s3, BUCKET, "crash/index.json")).toString());
    expect(
      idx.capsules.find((c: { namespace: string; name: string }) => c.namespace === ns && c.name === "big")
        ?.key,
    ).toBe(key1);
    const mid = await getJson<CapsuleView>(["-n", ns, "get", "capsule/big"]);
    expect(mid.status?.artifact?.key).toBe(key1);
    expect(condition(mid, "Reconciling")?.status).toBe("True");

    // The next operator: the source now serves everything.
    holdAfter = Number.POSITIVE_INFINITY;
    release();
    op = startOperator(ns, allowSource());
    const v2 = await waitFor(
      "the new revision",
      async () => {
        const o = await getJson<CapsuleView>(["-n", ns, "get", "capsule/big"]);
        return condition(o, "Ready")?.status === "True" && o.status?.artifact?.key !== key1 ? o : undefined;
      },
      120_000,
    );
    const a = v2.status?.artifact;
    if (!a) throw new Error("no artifact");
    expect(op.has("aborted an interrupted upload")).toBe(true);
    expect(await uploadsUnder(folder)).toEqual([]);
    expect((await listKeys(s3, BUCKET, folder)).sort()).toEqual([key1, a.key].sort());
    const file = join(dir, "big.qcap");
    writeFileSync(file, await getObject(s3, BUCKET, a.key));
    must(await qcap(["verify", file, "--trust", publisher.file]), "verify");
    const out = join(dir, "out");
    must(await qcap(["open", file, "-o", out, "-i", reader.file]), "open");
    expect(
      must(
        await kubectl(["-n", ns, "get", "capsule", "big", "-o", "jsonpath={.status.artifact.size}"]),
        "size",
      ),
    ).toBe(String(a.size));
  });

  it("an HTTP source whose bytes do not match the pinned sha256 stalls with DigestMismatch; nothing is published", async () => {
    const folder = `crash/${ns}/big/`;
    const before = await getJson<CapsuleView>(["-n", ns, "get", "capsule/big"]);
    const pinned = sha256(Buffer.from("what the spec expects\n"));
    content = Buffer.from("what the server sends\n");
    await apply(ns, JSON.stringify(capsule(pinned)));
    const failed = await waitReady<CapsuleView>(ns, "capsule/big", "False", "DigestMismatch");
    expect(condition(failed, "Stalled")?.status).toBe("True");
    expect(condition(failed, "Ready")?.message).toBe(
      `http://127.0.0.1:${port}/data/big.bin: the content does not match spec's sha256`,
    );
    expect(failed.status?.artifact).toEqual(before.status?.artifact);
    expect(await uploadsUnder(folder)).toEqual([]);
    expect((await listKeys(s3, BUCKET, folder)).length).toBe(2);
  });
});
