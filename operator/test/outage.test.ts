// The destination S3 server goes away mid-test: the Capsule shows Ready=False with a clear reason while
// the operator keeps running, and recovers by itself when the server returns.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apply,
  type CapsuleView,
  condition,
  ensureBucket,
  env,
  example,
  exampleNamespace,
  freePort,
  getJson,
  getObject,
  mergePatch,
  type OperatorProcess,
  PrivateS3,
  s3Client,
  startOperator,
  waitFor,
  waitReady,
} from "./support.ts";

let ns: string;
let op: OperatorProcess;
let server: PrivateS3;

beforeAll(async () => {
  const setup = await exampleNamespace("outage");
  ns = setup.ns;
  server = new PrivateS3(await freePort(), setup.dir);
  await server.start();
  await ensureBucket(s3Client(server.endpoint), "qcap-public");
  await apply(ns, example("publisher.yaml", { [env("AWS_ENDPOINT_URL")]: server.endpoint }));
  op = startOperator(ns);
});

afterAll(async () => {
  await op?.kill("SIGKILL");
  await server?.stop();
});

describe("S3 outage", () => {
  it("shows Ready=False DestinationUnreachable while S3 is down, then recovers", async () => {
    await apply(ns, example("capsule.yaml"));
    const first = await waitReady<CapsuleView>(ns, "capsule/survey");
    const rev1 = first.status?.artifact?.revision;
    expect(first.status?.artifact?.url.startsWith(server.endpoint)).toBe(true);

    await server.stop();
    await mergePatch(ns, "configmap", "survey-data", { data: { "south.csv": "S1,x,1\n" } });
    const down = await waitReady<CapsuleView>(ns, "capsule/survey", "False", "DestinationUnreachable");
    const ready = condition(down, "Ready");
    expect(ready?.message).toMatch(/^cannot [a-z ]+: .*ECONNREFUSED|connect/i);
    expect(condition(down, "Reconciling")?.status).toBe("True");
    expect(condition(down, "Stalled")).toBeUndefined();
    // The last good artifact stays in the status.
    expect(down.status?.artifact?.revision).toBe(rev1);
    expect(op.alive).toBe(true);
    expect((await op.http("/healthz")).status).toBe(200);

    await server.start();
    const back = await waitFor("recovery", async () => {
      const o = await getJson<CapsuleView>(["-n", ns, "get", "capsule/survey"]);
      return condition(o, "Ready")?.status === "True" && o.status?.artifact?.revision !== rev1
        ? o
        : undefined;
    });
    const key = back.status?.artifact?.key as string;
    const idx = JSON.parse(
      (await getObject(s3Client(server.endpoint), "qcap-public", "registry/index.json")).toString(),
    );
    expect(idx.capsules.find((c: { name: string }) => c.name === "survey")?.key).toBe(key);
    expect(back.status?.conditions?.map((c) => c.type)).toEqual(["Ready"]);
  });
});
