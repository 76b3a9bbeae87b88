// Two operator processes at once act as one: a coordination.k8s.io Lease elects one leader, the
// standby does nothing until the leader dies, then takes over.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apply,
  type CapsuleView,
  condition,
  ensureBucket,
  events,
  example,
  exampleNamespace,
  getJson,
  mergePatch,
  type OperatorProcess,
  s3Client,
  sleep,
  startOperator,
  uniqueBucket,
  waitFor,
  waitReady,
} from "./support.ts";

const BUCKET = uniqueBucket("leader");
let ns: string;
let a: OperatorProcess;
let b: OperatorProcess;

beforeAll(async () => {
  await ensureBucket(s3Client(), BUCKET);
  ({ ns } = await exampleNamespace("leader", BUCKET));
  a = startOperator(ns, ["--identity", "replica-a"]);
  b = startOperator(ns, ["--identity", "replica-b"]);
});

afterAll(async () => {
  await Promise.all([a?.kill("SIGKILL"), b?.kill("SIGKILL")]);
});

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number };
}

describe("leader election", () => {
  it("one replica leads and publishes; the other stands by; the standby takes over when the leader dies", async () => {
    const leader = await waitFor("a leader", () =>
      a.has("became leader") ? a : b.has("became leader") ? b : undefined,
    );
    const standby = leader === a ? b : a;
    const leaderId = leader === a ? "replica-a" : "replica-b";
    const lease = await getJson<Lease>(["-n", ns, "get", "lease", "qcap-operator"]);
    expect(lease.spec.holderIdentity).toBe(leaderId);

    await apply(ns, example("capsule.yaml", {}, BUCKET));
    const v1 = await waitReady<CapsuleView>(ns, "capsule/survey");
    // Several retry periods later the standby still waits and has done nothing.
    await sleep(2000);
    expect(standby.has("became leader")).toBe(false);
    expect(standby.has("caches synced")).toBe(false);
    expect(standby.has("upload started")).toBe(false);
    expect(leader.lines.filter((l) => l.msg === "upload started").length).toBe(1);
    expect((await events(ns, "survey")).filter((e) => e.reason === "Published").length).toBe(1);
    expect((await standby.http("/readyz")).status).toBe(200);
    expect((await standby.http("/metrics")).text).toMatch(/qcap_operator_leader 0/);

    await leader.kill("SIGKILL");
    await standby.waitLog("became leader", () => true, 30_000);
    const now = await getJson<Lease>(["-n", ns, "get", "lease", "qcap-operator"]);
    expect(now.spec.holderIdentity).toBe(leader === a ? "replica-b" : "replica-a");
    expect(now.spec.leaseTransitions).toBe((lease.spec.leaseTransitions ?? 0) + 1);

    await mergePatch(ns, "configmap", "survey-data", { data: { "south.csv": "S9,y,2\n" } });
    const v2 = await waitFor("the new leader to publish", async () => {
      const o = await getJson<CapsuleView>(["-n", ns, "get", "capsule/survey"]);
      return condition(o, "Ready")?.status === "True" &&
        o.status?.artifact?.revision !== v1.status?.artifact?.revision
        ? o
        : undefined;
    });
    expect(v2.status?.artifact?.key).not.toBe(v1.status?.artifact?.key);
    expect(standby.has("upload started")).toBe(true);
  });

  it("a leader stopped with SIGTERM releases the Lease so a new replica takes over at once", async () => {
    const current = a.alive ? a : b;
    const next = startOperator(ns, ["--identity", "replica-c", "--lease-duration", "60s"]);
    try {
      await sleep(1500);
      expect(next.has("became leader")).toBe(false);
      const started = Date.now();
      expect((await current.kill("SIGTERM")).code).toBe(0);
      const leaseLines = current.lines.filter((l) => /lease|shut|stop/.test(l.msg));
      expect(current.has("released the leader lease"), JSON.stringify(leaseLines)).toBe(true);
      await next.waitLog("became leader", () => true, 10_000);
      // Without the release it would wait for the 4 s lease of the old leader to expire.
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      await next.kill("SIGKILL");
    }
  });
});
