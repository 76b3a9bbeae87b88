// One tenant's S3 endpoint accepts connections and never answers; another tenant's S3 server freezes
// (SIGSTOP). Neither holds the operator: a Capsule in another namespace is published meanwhile, the
// stalled Capsules show Ready=False within the timeouts, and the frozen one recovers when it thaws.
//
// Destinations belong to publishers, which administrators set up: tenant A's Publisher points at the
// endpoint that never answers, tenant B's Capsules use healthy Publishers (the shared S3 server, and a
// private one that is later frozen).
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allowServiceAccount,
  apply,
  type CapsuleView,
  condition,
  type ExampleNamespace,
  ensureBucket,
  env,
  exampleNamespace,
  examplePublisher,
  freePort,
  getJson,
  type OperatorProcess,
  PrivateS3,
  s3Client,
  startOperator,
  uniqueBucket,
  waitFor,
  waitReady,
} from "./support.ts";

const BUCKET = uniqueBucket("stall");
let a: ExampleNamespace; // the tenant whose endpoint is dead
let b: ExampleNamespace; // another tenant
let silent: Server;
const sockets = new Set<Socket>();
let dead = "";
let frozen: PrivateS3;
let op: OperatorProcess | undefined;

beforeAll(async () => {
  await ensureBucket(s3Client(), BUCKET);
  a = await exampleNamespace("stall-a", BUCKET);
  b = await exampleNamespace("stall-b", BUCKET);
  silent = createServer((s) => {
    sockets.add(s);
    s.on("data", () => {});
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  dead = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  frozen = new PrivateS3(await freePort(), b.dir);
  await frozen.start();
  await ensureBucket(s3Client(frozen.endpoint), BUCKET);
  // What the administrators set up: A's publisher at the dead endpoint; B's at the shared S3 server and
  // at the private one.
  await publisher(a.ns, "dead", dead);
  await publisher(b.ns, "healthy", env("AWS_ENDPOINT_URL"));
  await publisher(b.ns, "frozen", frozen.endpoint);
});

/** A Publisher `name` writing to `endpoint`, and the namespace's ServiceAccount allowed to use it. */
async function publisher(ns: string, name: string, endpoint: string) {
  await apply(
    ns,
    examplePublisher(name, BUCKET, {
      [`endpoint: ${env("AWS_ENDPOINT_URL")}`]: `endpoint: ${endpoint}`,
      "prefix: registry": "prefix: stall",
    }),
  );
  await allowServiceAccount(ns, `use-${name}`, [
    { apiGroups: ["qcap.dev"], resources: ["publishers"], resourceNames: [name], verbs: ["use"] },
  ]);
}

afterAll(async () => {
  await op?.kill("SIGKILL");
  frozen?.signal("SIGCONT");
  await frozen?.stop();
  for (const s of sockets) s.destroy();
  silent?.close();
});

const SHORT = ["--s3-connect-timeout", "2s", "--s3-idle-timeout", "2s", "--s3-request-timeout", "6s"];

/** Both namespaces, with the given S3 timeouts (the Lease lives in the first). */
const operator = (timeouts: string[]) =>
  startOperator(a.ns, ["--namespaces", `${a.ns},${b.ns}`, ...timeouts]);

const capsule = (name: string, publisher: string, text = "a,b\n1,2\n") =>
  JSON.stringify({
    apiVersion: "qcap.dev/v1alpha1",
    kind: "Capsule",
    metadata: { name },
    spec: {
      sources: [{ inline: { "table.csv": text } }],
      publisherRef: { name: publisher },
    },
  });

describe("a stalled S3 endpoint", () => {
  it("three Capsules at an endpoint that never answers do not delay a Capsule in another namespace", async () => {
    // Timeouts far longer than the bound below: only the per-destination limit can meet it.
    op = operator(["--s3-idle-timeout", "60s", "--s3-request-timeout", "2m"]);
    for (const name of ["one", "two", "three"]) await apply(a.ns, capsule(name, "dead"));
    await waitFor("a reconcile stuck at the silent endpoint", () => sockets.size > 0, 60_000, 50);

    const t0 = Date.now();
    await apply(b.ns, capsule("other", "healthy"));
    await waitReady<CapsuleView>(b.ns, "capsule/other", "True", undefined, 20_000);
    expect(Date.now() - t0).toBeLessThan(20_000);
    await op.kill("SIGKILL");
    op = undefined;
  });

  it("with short timeouts the Capsules at the silent endpoint show Ready=False, saying why without secrets", async () => {
    op = operator(SHORT);
    for (const name of ["one", "two", "three"]) {
      const o = await waitReady<CapsuleView>(
        a.ns,
        `capsule/${name}`,
        "False",
        "DestinationUnreachable",
        60_000,
      );
      const msg = condition(o, "Ready")?.message ?? "";
      expect(msg).toMatch(/^cannot [a-z ]+: TimeoutError/);
      expect(msg).not.toContain(env("AWS_ACCESS_KEY_ID"));
      expect(msg).not.toContain(env("AWS_SECRET_ACCESS_KEY"));
    }
    await op.kill("SIGKILL");
    op = undefined;
  });

  it("a frozen (SIGSTOP) S3 server turns an existing Ready Capsule to Ready=False after a spec change", async () => {
    op = startOperator(b.ns, SHORT);
    await apply(b.ns, capsule("frozen", "frozen"));
    const before = await waitReady<CapsuleView>(b.ns, "capsule/frozen");
    frozen.signal("SIGSTOP");
    await apply(b.ns, capsule("frozen", "frozen", "a,b\n3,4\n"));
    const t0 = Date.now();
    const down = await waitReady<CapsuleView>(
      b.ns,
      "capsule/frozen",
      "False",
      "DestinationUnreachable",
      30_000,
    );
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(condition(down, "Reconciling")?.status).toBe("True");
    expect(down.status?.artifact).toEqual(before.status?.artifact);

    frozen.signal("SIGCONT");
    const back = await waitFor("the thawed server to take the new revision", async () => {
      const o = await getJson<CapsuleView>(["-n", b.ns, "get", "capsule/frozen"]);
      return condition(o, "Ready")?.status === "True" &&
        o.status?.artifact?.revision !== before.status?.artifact?.revision
        ? o
        : undefined;
    });
    expect(back.status?.observedGeneration).toBe(back.metadata.generation);
    expect(op.alive).toBe(true);
  });
});
