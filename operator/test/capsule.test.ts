// The Capsule lifecycle against the real local control plane: publish, verify and open with the CLI,
// republish on a source change, skip when nothing changed, errors as conditions, deletion policy.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allowServiceAccount,
  apply,
  type CapsuleView,
  condition,
  createSecret,
  ensureBucket,
  env,
  events,
  example,
  exampleNamespace,
  examplePublisher,
  getJson,
  getObject,
  kubectl,
  listKeys,
  makeKey,
  mergePatch,
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

const BUCKET = uniqueBucket("capsule");
const s3 = s3Client();
let ns: string;
let dir: string;
let publisher: TestKey;
let reader: TestKey;
let op: OperatorProcess;

beforeAll(async () => {
  await ensureBucket(s3, BUCKET);
  ({ ns, dir, publisher, reader } = await exampleNamespace("capsule", BUCKET));
  op = startOperator(ns);
});

afterAll(async () => {
  await op?.kill("SIGKILL");
});

interface RegistryIndex {
  kind: string;
  capsules: {
    namespace: string;
    name: string;
    revision: string;
    root: string;
    size: number;
    url: string;
    key: string;
    digest: string;
  }[];
}
const readIndex = async () =>
  JSON.parse((await getObject(s3, BUCKET, "registry/index.json")).toString("utf8")) as RegistryIndex;
const entryOf = (idx: RegistryIndex, name: string) =>
  idx.capsules.find((c) => c.namespace === ns && c.name === name);

describe("Capsule", () => {
  let first: CapsuleView;

  it("publishes the example capsule: Ready, artifact in S3, registry updated", async () => {
    await apply(ns, example("capsule.yaml", {}, BUCKET));
    await op.waitLog("caches synced");
    first = await waitReady<CapsuleView>(ns, "capsule/survey");
    const st = first.status ?? {};
    expect(st.observedGeneration).toBe(first.metadata.generation);
    // kstatus: once Ready, neither Reconciling nor Stalled remain.
    expect(st.conditions?.map((c) => c.type)).toEqual(["Ready"]);
    expect(condition(first, "Ready")?.reason).toBe("Succeeded");
    expect(first.metadata.finalizers).toContain("qcap.dev/finalizer");
    const a = st.artifact;
    expect(a).toBeDefined();
    if (!a) return;
    expect(a.key).toMatch(new RegExp(`^registry/${ns}/survey/[0-9a-f]{16}-[0-9a-f]{12}\\.qcap$`));
    expect(a.root).toMatch(/^[0-9a-f]{64}$/);
    expect(a.revision).toBe(st.inputsDigest);
    expect(a.url).toBe(`${env("AWS_ENDPOINT_URL")}/${BUCKET}/${a.key}`);

    const idx = await readIndex();
    expect(idx.kind).toBe("qcap-registry");
    expect(entryOf(idx, "survey")).toMatchObject({
      key: a.key,
      root: a.root,
      revision: a.revision,
      size: a.size,
      url: a.url,
    });
    const html = (await getObject(s3, BUCKET, "registry/index.html")).toString("utf8");
    expect(html).toContain(`${ns}/survey`);
    expect(html).toContain(a.root);

    const published = (await events(ns, "survey")).filter((e) => e.reason === "Published");
    expect(published.length).toBe(1);
  });

  it("the artifact verifies and opens with the CLI; metadata is public", async () => {
    const a = first.status?.artifact;
    if (!a) throw new Error("no artifact");
    const bytes = await getObject(s3, BUCKET, a.key);
    expect(bytes.length).toBe(a.size);
    const file = join(dir, "survey.qcap");
    writeFileSync(file, bytes);
    must(await qcap(["verify", file, "--trust", publisher.file]), "qcap verify");
    const inspect = JSON.parse(must(await qcap(["inspect", file, "--json"]), "qcap inspect"));
    expect(JSON.stringify(inspect)).toContain(a.root);

    const out = join(dir, "out");
    must(
      await qcap(["open", file, "-o", out, "-i", reader.file, "--meta-out", join(dir, "meta")]),
      "qcap open",
    );
    expect(readFileSync(join(out, "counts/north.csv"), "utf8")).toContain("N1,Parus major,12");
    expect(readFileSync(join(out, "counts/south.csv"), "utf8")).toContain("S1,Turdus merula,9");
    expect(readFileSync(join(out, "README.md"), "utf8")).toContain("# Bird survey 2026");
    expect(readFileSync(join(out, "LICENSE.txt"), "utf8")).toBe("CC-BY-4.0\n");
    const item = JSON.parse(readFileSync(join(dir, "meta", "stac/item.json"), "utf8"));
    expect(item).toMatchObject({ type: "Feature", id: "bird-survey-2026" });

    // Someone who is not a recipient cannot open it.
    const stranger = makeKey(dir, "stranger");
    const denied = await qcap(["open", file, "-o", join(dir, "nope"), "-i", stranger.file]);
    expect(denied.code).toBe(1);
  });

  it("health, readiness and metrics endpoints answer", async () => {
    expect((await op.http("/healthz")).status).toBe(200);
    expect((await op.http("/readyz")).status).toBe(200);
    const m = await op.http("/metrics");
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/qcap_operator_reconcile_total\{kind="Capsule",result="success"\} [1-9]/);
    expect(m.text).toMatch(/qcap_operator_publish_total [1-9]/);
    expect(m.text).toMatch(/qcap_operator_published_bytes_total [1-9]/);
    expect(m.text).toMatch(/qcap_operator_reconcile_duration_seconds_bucket/);
    expect(m.text).toMatch(/qcap_operator_leader 1/);
  });

  it("a restart with unchanged inputs publishes nothing (graceful SIGTERM, then no upload)", async () => {
    const before = first.status?.artifact;
    const exit = await op.kill("SIGTERM");
    expect(exit.code).toBe(0);
    expect(op.has("stopped")).toBe(true);
    op = startOperator(ns);
    // The periodic/initial reconcile ran once the metrics count it.
    await waitFor("a reconcile after restart", async () => {
      const m = await op.http("/metrics");
      return /qcap_operator_reconcile_total\{kind="Capsule",result="success"\} [1-9]/.test(m.text);
    });
    expect(op.has("upload started")).toBe(false);
    const now = await getJson<CapsuleView>(["-n", ns, "get", "capsule/survey"]);
    expect(now.status?.artifact).toEqual(before);
  });

  it("a ConfigMap change publishes a new revision; the previous artifact is kept, older ones removed", async () => {
    const before = first.status?.artifact;
    if (!before) throw new Error("no artifact");
    await mergePatch(
      ns,
      "configmap",
      "survey-data",
      { data: { "north.csv": "transect,species,count\nN1,Parus major,13\n" } },
      "patch ConfigMap",
    );
    const second = await waitFor("a new revision", async () => {
      const o = await getJson<CapsuleView>(["-n", ns, "get", "capsule/survey"]);
      return o.status?.artifact &&
        o.status.artifact.revision !== before.revision &&
        condition(o, "Ready")?.status === "True"
        ? o
        : undefined;
    });
    const a = second.status?.artifact;
    if (!a) throw new Error("no artifact");
    expect(a.key).not.toBe(before.key);
    expect(a.root).not.toBe(before.root);
    expect(entryOf(await readIndex(), "survey")).toMatchObject({ key: a.key, previousKey: before.key });
    const file = join(dir, "survey2.qcap");
    writeFileSync(file, await getObject(s3, BUCKET, a.key));
    const out = join(dir, "out2");
    must(await qcap(["open", file, "-o", out, "-i", reader.file]), "qcap open");
    expect(readFileSync(join(out, "counts/north.csv"), "utf8")).toContain("N1,Parus major,13");
    expect(await listKeys(s3, BUCKET, `registry/${ns}/survey/`)).toEqual([before.key, a.key].sort());
    first = second;
  });

  it("a missing Secret shows Ready=False SecretNotFound, and the capsule recovers when it appears", async () => {
    await apply(
      ns,
      examplePublisher("late-publisher", BUCKET, { "name: qcap-signing-key": "name: late-key" }),
    );
    await allowServiceAccount(ns, "use-late-publisher", [
      {
        apiGroups: ["qcap.dev"],
        resources: ["publishers"],
        resourceNames: ["late-publisher"],
        verbs: ["use"],
      },
    ]);
    await apply(
      ns,
      example(
        "capsule.yaml",
        {
          "name: survey\n": "name: survey-late\n",
          "name: survey-publisher": "name: late-publisher",
        },
        BUCKET,
      )
        .split("---")
        .slice(1)
        .join("---"),
    );
    const failing = await waitReady<CapsuleView>(ns, "capsule/survey-late", "False", "SecretNotFound");
    expect(condition(failing, "Ready")?.message).toContain('Secret "late-key" not found');
    expect(condition(failing, "Reconciling")?.status).toBe("True");
    expect(condition(failing, "Stalled")).toBeUndefined();
    const warn = await waitFor("a warning event", async () =>
      (await events(ns, "survey-late")).find((e) => e.type === "Warning" && e.reason === "SecretNotFound"),
    );
    expect(warn.message).toContain("late-key");
    await createSecret(ns, "late-key", [`--from-file=signing.key=${publisher.file}`], "create Secret");
    const ok = await waitReady<CapsuleView>(ns, "capsule/survey-late");
    expect(ok.status?.conditions?.map((c) => c.type)).toEqual(["Ready"]);
  });

  it("a malformed recipient key stalls with InvalidRecipient; a bad signing key with InvalidSigningKey", async () => {
    // Right characters, wrong checksum: the schema cannot tell, the operator can.
    const bad = `${reader.recipient.slice(0, -1)}${reader.recipient.endsWith("q") ? "p" : "q"}`;
    must(
      await kubectl([
        "-n",
        ns,
        "create",
        "configmap",
        "bad-recipients",
        `--from-literal=recipients.txt=${bad}`,
      ]),
      "cm",
    );
    await apply(
      ns,
      example(
        "capsule.yaml",
        {
          "name: survey\n": "name: survey-badkey\n",
          "name: survey-recipients": "name: bad-recipients",
        },
        BUCKET,
      )
        .split("---")
        .slice(1)
        .join("---"),
    );
    const stalled = await waitReady<CapsuleView>(ns, "capsule/survey-badkey", "False", "InvalidRecipient");
    expect(condition(stalled, "Stalled")).toMatchObject({ status: "True", reason: "InvalidRecipient" });
    expect(condition(stalled, "Reconciling")).toBeUndefined();
    expect(condition(stalled, "Ready")?.message).toContain("bad-recipients");

    await createSecret(ns, "junk-key", ["--from-literal=signing.key=not a key"], "s");
    await apply(
      ns,
      examplePublisher("junk-publisher", BUCKET, { "name: qcap-signing-key": "name: junk-key" }),
    );
    await allowServiceAccount(ns, "use-junk-publisher", [
      {
        apiGroups: ["qcap.dev"],
        resources: ["publishers"],
        resourceNames: ["junk-publisher"],
        verbs: ["use"],
      },
    ]);
    await apply(
      ns,
      example(
        "capsule.yaml",
        {
          "name: survey\n": "name: survey-junk\n",
          "name: survey-publisher": "name: junk-publisher",
        },
        BUCKET,
      )
        .split("---")
        .slice(1)
        .join("---"),
    );
    const junk = await waitReady<CapsuleView>(ns, "capsule/survey-junk", "False", "InvalidSigningKey");
    expect(condition(junk, "Stalled")?.status).toBe("True");
    expect(op.alive).toBe(true);
  });

  it("S3 prefix and Secret sources (allowed by the publisher, readable by the ServiceAccount) are packed as given", async () => {
    for (const [key, body] of [
      ["raw/2026/a.bin", "alpha"],
      ["raw/2026/sub/b.bin", "beta"],
    ] as const) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${ns}/${key}`, Body: body }));
    }
    await createSecret(ns, "station-keys", ["--from-literal=station.conf=id=42"], "Secret source");
    // The administrator's part: a publisher allowing these kinds and this S3 location, and a
    // ServiceAccount able to read the Secret source and the source's S3 credentials.
    await apply(
      ns,
      JSON.stringify({
        apiVersion: "qcap.dev/v1alpha1",
        kind: "Publisher",
        metadata: { name: "mixed-publisher" },
        spec: {
          signingKeySecretRef: { name: "qcap-signing-key" },
          destination: {
            endpoint: env("AWS_ENDPOINT_URL"),
            bucket: BUCKET,
            prefix: "registry",
            credentialsSecretRef: { name: "qcap-s3-credentials" },
          },
          sources: {
            allowedKinds: ["configMap", "secret", "inline", "s3"],
            s3: [{ endpoint: env("AWS_ENDPOINT_URL"), bucket: BUCKET, prefix: ns }],
          },
        },
      }),
    );
    await allowServiceAccount(ns, "mixed-sources", [
      {
        apiGroups: ["qcap.dev"],
        resources: ["publishers"],
        resourceNames: ["mixed-publisher"],
        verbs: ["use"],
      },
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: ["station-keys", "source-credentials"],
        verbs: ["get"],
      },
    ]);
    await createSecret(
      ns,
      "source-credentials",
      [
        `--from-literal=AWS_ACCESS_KEY_ID=${env("AWS_ACCESS_KEY_ID")}`,
        `--from-literal=AWS_SECRET_ACCESS_KEY=${env("AWS_SECRET_ACCESS_KEY")}`,
      ],
      "S3 source credentials",
    );
    const spec = {
      apiVersion: "qcap.dev/v1alpha1",
      kind: "Capsule",
      metadata: { name: "mixed" },
      spec: {
        publisherRef: { name: "mixed-publisher" },
        sources: [
          {
            s3: {
              endpoint: env("AWS_ENDPOINT_URL"),
              bucket: BUCKET,
              prefix: `${ns}/raw`,
              credentialsSecretRef: { name: "source-credentials" },
            },
            path: "raw",
          },
          { secret: { name: "station-keys" }, path: "conf" },
          { inline: { "notes.md": "# notes" }, into: "meta" },
        ],
        recipients: [{ key: reader.recipient }],
      },
    };
    await apply(ns, JSON.stringify(spec));
    const ready = await waitReady<CapsuleView>(ns, "capsule/mixed");
    const file = join(dir, "mixed.qcap");
    writeFileSync(file, await getObject(s3, BUCKET, ready.status?.artifact?.key as string));
    const out = join(dir, "mixed");
    must(
      await qcap(["open", file, "-o", out, "-i", reader.file, "--meta-out", join(dir, "mixed-meta")]),
      "open",
    );
    expect(readFileSync(join(out, "raw/2026/a.bin"), "utf8")).toBe("alpha");
    expect(readFileSync(join(out, "raw/2026/sub/b.bin"), "utf8")).toBe("beta");
    expect(readFileSync(join(out, "conf/station.conf"), "utf8")).toBe("id=42");
    expect(readFileSync(join(dir, "mixed-meta", "notes.md"), "utf8")).toBe("# notes");

    // A new object under the prefix is a new revision at the next re-check (spec change here forces one).
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${ns}/raw/2026/c.bin`, Body: "gamma" }));
    await mergePatch(ns, "capsule", "mixed", { spec: { interval: "9m" } });
    await waitFor("a revision with the new object", async () => {
      const o = await getJson<CapsuleView>(["-n", ns, "get", "capsule/mixed"]);
      return (
        o.status?.artifact?.revision !== ready.status?.artifact?.revision &&
        condition(o, "Ready")?.status === "True"
      );
    });
  });

  it("a suspended Capsule is left alone until resumed", async () => {
    const before = (await getJson<CapsuleView>(["-n", ns, "get", "capsule/survey"])).status?.artifact;
    await mergePatch(ns, "capsule", "survey", { spec: { suspend: true } }, "suspend");
    const seen = () =>
      op.lines.filter((l) => l.msg === "suspended: not reconciling" && l.capsule === `${ns}/survey`).length;
    await waitFor("the suspended reconcile", () => seen() >= 1);
    const n = seen();
    await mergePatch(
      ns,
      "configmap",
      "survey-data",
      { data: { "south.csv": "S1,w,5\n" } },
      "patch ConfigMap",
    );
    await waitFor("the ConfigMap change to be looked at", () => seen() > n);
    expect((await getJson<CapsuleView>(["-n", ns, "get", "capsule/survey"])).status?.artifact).toEqual(
      before,
    );
    await mergePatch(ns, "capsule", "survey", { spec: { suspend: false } }, "resume");
    await waitFor("a new revision after resuming", async () => {
      const o = await getJson<CapsuleView>(["-n", ns, "get", "capsule/survey"]);
      return o.status?.artifact?.revision !== before?.revision && condition(o, "Ready")?.status === "True";
    });
  });

  it("logs are JSON and never contain keys or credentials", () => {
    const text = op.logText();
    for (const secret of [
      publisher.seedHex,
      publisher.identity,
      reader.identity,
      env("AWS_SECRET_ACCESS_KEY"),
      env("QCAP_KUBE_ADMIN_TOKEN"),
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(op.lines.filter((l) => l.level === "raw")).toEqual([]);
  });

  it("deletionPolicy Delete removes the artifacts and the registry entry, then the finalizer", async () => {
    const folder = `registry/${ns}/survey/`;
    expect((await listKeys(s3, BUCKET, folder)).length).toBeGreaterThan(0);
    must(await kubectl(["-n", ns, "delete", "capsule", "survey", "--wait=false"]), "delete");
    await waitFor("the Capsule to be gone", async () => {
      const r = await kubectl(["-n", ns, "get", "capsule", "survey"]);
      return r.code !== 0 && /NotFound/.test(r.stderr);
    });
    expect(await listKeys(s3, BUCKET, folder)).toEqual([]);
    expect(entryOf(await readIndex(), "survey")).toBeUndefined();
    expect(entryOf(await readIndex(), "survey-late")).toBeDefined();
  });
});
