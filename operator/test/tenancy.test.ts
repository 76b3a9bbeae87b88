// The tenancy model against the real API server and S3 server: a tenant who may create Capsules,
// CapabilityGrants and ConfigMaps in her namespace, and may not read its Secrets, gets no power she did
// not already have. Each attempt is refused at admission (the chart's ValidatingAdmissionPolicies, for
// the user alice), and again by the operator when the object gets past admission (created here as the
// administrator, as on a cluster without the policies) with a condition that leaks nothing.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHART } from "../../charts/test/helpers.ts";
import {
  allowServiceAccount,
  apply,
  type CapsuleView,
  condition,
  createSecret,
  ensureBucket,
  env,
  example,
  exampleNamespace,
  examplePublisher,
  kubectl,
  listKeys,
  makeKey,
  mergePatch,
  must,
  newNamespace,
  type OperatorProcess,
  run,
  s3Client,
  startOperator,
  type TestKey,
  uniqueBucket,
  waitFor,
  waitReady,
} from "./support.ts";

const BUCKET = uniqueBucket("tenancy");
const OTHER_BUCKET = uniqueBucket("tenant-b");
const RELEASE = `tenancy-${randomBytes(3).toString("hex")}`;
const s3 = s3Client();
let ns: string;
let otherNs: string;
let clusterNs: string;
let dir: string;
let publisher: TestKey;
let alice: TestKey;
let op: OperatorProcess;
let policies = "";
// A server standing for the tenant's own S3 endpoint: it records every request it gets.
let trap: Server;
let trapUrl = "";
const trapped: string[] = [];

const asAlice = (args: string[], input?: string) =>
  run(env("QCAP_KUBECTL"), ["--kubeconfig", env("QCAP_KUBECONFIG_ALICE"), ...args], { input });
const asBob = (args: string[], input?: string) =>
  run(env("QCAP_KUBECTL"), ["--kubeconfig", env("QCAP_KUBECONFIG_BOB"), ...args], { input });

const capsule = (name: string, spec: Record<string, unknown>) =>
  JSON.stringify({
    apiVersion: "qcap.dev/v1alpha1",
    kind: "Capsule",
    metadata: { name },
    spec: { publisherRef: { name: "survey-publisher" }, ...spec },
  });

/** A user binding: a Role with `rules` in the tenant namespace bound to `user`. */
async function bindUser(user: string, name: string, rules: object[]) {
  const role = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name }, rules };
  const binding = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
  };
  await apply(ns, JSON.stringify({ apiVersion: "v1", kind: "List", items: [role, binding] }));
}

/** Nothing of the capsule reached the bucket (no artifact, no registry entry). */
async function nothingPublished(name: string) {
  expect(await listKeys(s3, BUCKET, `registry/${ns}/${name}/`)).toEqual([]);
}

/** The condition says why in names only: no key, credential or content in it. */
function leaksNothing(c: { message: string } | undefined) {
  for (const secret of [
    publisher.seedHex,
    publisher.identity,
    env("AWS_SECRET_ACCESS_KEY"),
    "tenant-b-secret",
  ])
    expect(c?.message ?? "").not.toContain(secret);
}

beforeAll(async () => {
  await Promise.all([ensureBucket(s3, BUCKET), ensureBucket(s3, OTHER_BUCKET)]);
  ({ ns, dir, publisher } = await exampleNamespace("tenant-a", BUCKET));
  otherNs = await newNamespace("tenant-b");
  clusterNs = await newNamespace("qcap-system");
  alice = makeKey(dir, "alice");
  await s3.send(new PutObjectCommand({ Bucket: OTHER_BUCKET, Key: "secret.txt", Body: "tenant-b-secret" }));
  await apply(ns, example("capsule.yaml", {}, BUCKET));

  // alice: Capsules, CapabilityGrants and ConfigMaps in the tenant namespace; no Secrets, nothing elsewhere.
  await bindUser("alice", "alice-author", [
    {
      apiGroups: ["qcap.dev"],
      resources: ["capsules", "capabilitygrants"],
      verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "create", "update", "patch"] },
  ]);
  // She publishes through the namespace's publisher (the signing test is made by someone who may not).
  await bindUser("alice", "alice-use-publisher", [
    {
      apiGroups: ["qcap.dev"],
      resources: ["publishers"],
      resourceNames: ["survey-publisher"],
      verbs: ["use"],
    },
  ]);

  // The chart's admission policies, under this release's names.
  const rendered = await run(env("QCAP_HELM"), [
    "template",
    RELEASE,
    CHART,
    "--show-only",
    "templates/admission-policies.yaml",
  ]);
  policies = must(rendered, "helm template the admission policies");
  must(await kubectl(["apply", "-f", "-"], policies), "install the admission policies");
  // Policies take effect a moment after they are created.
  await waitFor(
    "the admission policies to take effect",
    async () => {
      const r = await asAlice(
        ["-n", ns, "create", "--dry-run=server", "-f", "-"],
        capsule("probe", { publisherRef: { name: "none" }, sources: [{ inline: { "a.txt": "a" } }] }),
      );
      return r.code !== 0 && /may not use Publisher/.test(r.stderr);
    },
    30_000,
  );

  trap = createServer((req, res) => {
    trapped.push(`${req.method} ${req.url}`);
    res.writeHead(200).end();
  });
  await new Promise<void>((r) => trap.listen(0, "127.0.0.1", r));
  trapUrl = `http://127.0.0.1:${(trap.address() as { port: number }).port}`;
  op = startOperator(ns, ["--namespaces", `${ns},${otherNs}`, "--cluster-resource-namespace", clusterNs]);
  await waitReady<CapsuleView>(ns, "capsule/survey");
});

afterAll(async () => {
  await op?.kill("SIGKILL");
  trap?.close();
  if (policies) await kubectl(["delete", "--ignore-not-found", "-f", "-"], policies);
});

describe("tenancy: what a Capsule author can make the operator do", () => {
  it("a tenant allowed to use the publisher publishes from her ConfigMaps; the operator reads them as the ServiceAccount", async () => {
    must(
      await asAlice(["-n", ns, "create", "configmap", "alice-notes", "--from-literal=notes.txt=field notes"]),
      "alice creates a ConfigMap",
    );
    must(
      await asAlice(
        ["-n", ns, "create", "-f", "-"],
        capsule("alice-notes", {
          sources: [{ configMap: { name: "alice-notes" } }],
          recipients: [{ key: alice.recipient }],
        }),
      ),
      "alice creates a Capsule",
    );
    const ready = await waitReady<CapsuleView>(ns, "capsule/alice-notes");
    expect(ready.status?.artifact?.url.startsWith(`${env("AWS_ENDPOINT_URL")}/${BUCKET}/registry/`)).toBe(
      true,
    );
    // The admission policies are installed: the condition does not say the operator is the only check.
    expect(condition(ready, "Ready")?.message).toMatch(
      /^published revision sha256:[0-9a-f]{12}… root [0-9a-f]{64}$/,
    );
    // She may not name a ServiceAccount she cannot impersonate (it could read more than she can).
    const named = await asAlice(
      ["-n", ns, "create", "--dry-run=server", "-f", "-"],
      capsule("alice-sa", { serviceAccountName: "qcap", sources: [{ inline: { "a.txt": "a" } }] }),
    );
    expect(named.code).not.toBe(0);
    expect(named.stderr).toMatch(/you may not impersonate ServiceAccount "qcap"/);
  });

  it("secret exfiltration: Secret sources for the signing key and S3 credentials are refused", async () => {
    const exfil = capsule("exfil", {
      sources: [{ secret: { name: "qcap-signing-key" } }, { secret: { name: "qcap-s3-credentials" } }],
      recipients: [{ key: alice.recipient }],
    });
    const r = await asAlice(["-n", ns, "create", "-f", "-"], exfil);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/a Secret source names a Secret you may not get/);

    // Past admission, the operator reads Secret sources as the ServiceAccount, which may not get them,
    // even with a publisher that allows Secret sources.
    await apply(
      ns,
      examplePublisher("secrets-publisher", BUCKET, {
        "allowedKinds: [configMap, inline]": "allowedKinds: [configMap, secret, inline]",
      }),
    );
    await allowServiceAccount(ns, "use-secrets-publisher", [
      {
        apiGroups: ["qcap.dev"],
        resources: ["publishers"],
        resourceNames: ["secrets-publisher"],
        verbs: ["use"],
      },
    ]);
    const past = JSON.parse(exfil);
    past.spec.publisherRef.name = "secrets-publisher";
    must(await kubectl(["-n", ns, "create", "-f", "-"], JSON.stringify(past)), "create past admission");
    const refused = await waitReady<CapsuleView>(ns, "capsule/exfil", "False", "Forbidden");
    const c = condition(refused, "Ready");
    expect(c?.message).toBe(
      `ServiceAccount "${ns}/qcap" cannot get Secret "qcap-signing-key" in namespace "${ns}"`,
    );
    expect(condition(refused, "Stalled")?.status).toBe("True");
    leaksNothing(c);
    await nothingPublished("exfil");
  });

  it("grants: a grant of a Capsule the author may not grant is refused", async () => {
    // An administrator's capsule, sealed to the administrator only.
    const admin = makeKey(dir, "admin");
    await apply(
      ns,
      capsule("board-minutes", {
        sources: [{ inline: { "minutes.md": "# confidential" } }],
        recipients: [{ key: admin.recipient }],
      }),
    );
    await waitReady<CapsuleView>(ns, "capsule/board-minutes");
    const grant = JSON.stringify({
      apiVersion: "qcap.dev/v1alpha1",
      kind: "CapabilityGrant",
      metadata: { name: "steal" },
      spec: {
        capsuleRef: { name: "board-minutes" },
        audience: alice.recipient,
        secretName: "steal-grant",
        publish: true,
      },
    });
    const r = await asAlice(["-n", ns, "create", "-f", "-"], grant);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/you may not grant Capsule "board-minutes" \(needs the verb grant on it\)/);

    // Past admission, the operator asks whether the grant's ServiceAccount may grant that Capsule.
    must(await kubectl(["-n", ns, "create", "-f", "-"], grant), "create past admission");
    const refused = await waitReady<CapsuleView>(ns, "capabilitygrant/steal", "False", "Forbidden");
    expect(condition(refused, "Ready")?.message).toBe(
      `ServiceAccount "${ns}/qcap" may not grant Capsule "board-minutes" (needs the verb grant on capsules.qcap.dev)`,
    );
    expect((await kubectl(["-n", ns, "get", "secret", "steal-grant"])).code).not.toBe(0);
    expect(await listKeys(s3, BUCKET, "registry/grants/")).toEqual([]);
  });

  it("a user holding the grant verb mints grants declaratively (GitOps)", async () => {
    await bindUser("bob", "bob-grants", [
      {
        apiGroups: ["qcap.dev"],
        resources: ["capabilitygrants"],
        verbs: ["get", "create", "update", "patch"],
      },
      { apiGroups: ["qcap.dev"], resources: ["capsules"], resourceNames: ["survey"], verbs: ["grant"] },
    ]);
    must(await asBob(["-n", ns, "apply", "-f", "-"], example("grant.yaml")), "bob applies the example grant");
    const minted = await waitReady<CapsuleView>(ns, "capabilitygrant/survey-reader");
    expect(condition(minted, "Ready")?.reason).toBe("Minted");
  });

  it("destination: the endpoint cannot be chosen by the Capsule author", async () => {
    const toTrap = capsule("exfil-dest", {
      sources: [{ configMap: { name: "survey-data" } }],
      destination: {
        endpoint: trapUrl,
        bucket: BUCKET,
        credentialsSecretRef: { name: "qcap-s3-credentials" },
      },
    });
    const r = await asAlice(["-n", ns, "create", "-f", "-"], toTrap);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown field "spec.destination"/);
    // Without field validation the API server drops the field: the capsule goes where the publisher says.
    must(await asAlice(["-n", ns, "create", "--validate=false", "-f", "-"], toTrap), "create unvalidated");
    const ready = await waitReady<CapsuleView>(ns, "capsule/exfil-dest");
    expect(ready.spec.destination).toBeUndefined();
    expect(ready.status?.artifact?.url.startsWith(`${env("AWS_ENDPOINT_URL")}/${BUCKET}/`)).toBe(true);
    expect(trapped).toEqual([]);
    // Nor can she make a publisher of her own.
    const pub = await asAlice(
      ["-n", ns, "create", "-f", "-"],
      examplePublisher("mine", BUCKET, { [env("AWS_ENDPOINT_URL")]: trapUrl }),
    );
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/forbidden/);
  });

  it("s3 sources: an s3 source cannot read another tenant's bucket, nor with the destination's credentials", async () => {
    const steal = (name: string, credentials: string) =>
      capsule(name, {
        sources: [
          {
            s3: {
              endpoint: env("AWS_ENDPOINT_URL"),
              bucket: OTHER_BUCKET,
              key: "secret.txt",
              credentialsSecretRef: { name: credentials },
            },
          },
        ],
        recipients: [{ key: alice.recipient }],
      });
    const noCreds = JSON.parse(steal("steal-s3", "x"));
    delete noCreds.spec.sources[0].s3.credentialsSecretRef;
    const r0 = await asAlice(["-n", ns, "create", "-f", "-"], JSON.stringify(noCreds));
    expect(r0.code).not.toBe(0);
    expect(r0.stderr).toMatch(/credentialsSecretRef: Required value/);
    const r = await asAlice(["-n", ns, "create", "-f", "-"], steal("steal-s3", "qcap-s3-credentials"));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/an s3 source names a credentials Secret you may not get/);

    // Past admission: the example publisher allows no s3 source at all.
    must(await kubectl(["-n", ns, "create", "-f", "-"], steal("steal-s3", "qcap-s3-credentials")), "create");
    const refused = await waitReady<CapsuleView>(ns, "capsule/steal-s3", "False", "SourceNotAllowed");
    expect(condition(refused, "Ready")?.message).toBe(
      `sources[0]: Publisher "${ns}/survey-publisher" does not allow s3 sources (allowed: configMap, inline)`,
    );
    leaksNothing(condition(refused, "Ready"));

    // A publisher that allows s3 sources from its own tenant's bucket only.
    await apply(
      ns,
      examplePublisher("s3-publisher", BUCKET, {
        "allowedKinds: [configMap, inline]": `allowedKinds: [s3]\n    s3:\n      - endpoint: ${env("AWS_ENDPOINT_URL")}\n        bucket: ${BUCKET}\n        prefix: ${ns}`,
      }),
    );
    await allowServiceAccount(ns, "use-s3-publisher", [
      { apiGroups: ["qcap.dev"], resources: ["publishers"], resourceNames: ["s3-publisher"], verbs: ["use"] },
    ]);
    const other = JSON.parse(steal("steal-s3-b", "qcap-s3-credentials"));
    other.spec.publisherRef.name = "s3-publisher";
    must(await kubectl(["-n", ns, "create", "-f", "-"], JSON.stringify(other)), "create");
    const notAllowed = await waitReady<CapsuleView>(ns, "capsule/steal-s3-b", "False", "SourceNotAllowed");
    expect(condition(notAllowed, "Ready")?.message).toContain(
      `does not allow reading s3://${OTHER_BUCKET}/secret.txt`,
    );
    // An allowed location, but credentials the ServiceAccount may not read: refused too.
    const own = JSON.parse(steal("steal-s3-c", "qcap-s3-credentials"));
    own.spec.publisherRef.name = "s3-publisher";
    own.spec.sources[0].s3.bucket = BUCKET;
    own.spec.sources[0].s3.key = `${ns}/data.bin`;
    must(await kubectl(["-n", ns, "create", "-f", "-"], JSON.stringify(own)), "create");
    const forbidden = await waitReady<CapsuleView>(ns, "capsule/steal-s3-c", "False", "Forbidden");
    expect(condition(forbidden, "Ready")?.message).toBe(
      `ServiceAccount "${ns}/qcap" cannot get Secret "qcap-s3-credentials" in namespace "${ns}"`,
    );
    // A changed Publisher applies at once (the Capsule's interval is 10m): allowing the other bucket
    // moves the refusal on to the credentials, which the ServiceAccount still may not read.
    await mergePatch(ns, "publisher", "s3-publisher", {
      spec: { sources: { s3: [{ endpoint: env("AWS_ENDPOINT_URL"), bucket: OTHER_BUCKET }] } },
    });
    const moved = await waitReady<CapsuleView>(ns, "capsule/steal-s3-b", "False", "Forbidden", 30_000);
    expect(condition(moved, "Ready")?.message).toContain('cannot get Secret "qcap-s3-credentials"');
    for (const name of ["steal-s3", "steal-s3-b", "steal-s3-c"]) await nothingPublished(name);
  });

  it("signing: signing with the publisher's key needs the verb use on it", async () => {
    // Another tenant's author: may create Capsules but may not use the publisher.
    await bindUser("bob", "bob-author", [
      { apiGroups: ["qcap.dev"], resources: ["capsules"], verbs: ["get", "create"] },
    ]);
    const forged = capsule("forged", {
      sources: [{ inline: { "statement.txt": "signed by the publisher" } }],
    });
    const r = await asBob(["-n", ns, "create", "-f", "-"], forged);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/you may not use Publisher "survey-publisher" \(needs the verb use on it\)/);

    // Past admission, as a ServiceAccount that may not use it: nothing is signed or uploaded.
    must(
      await kubectl(
        ["-n", ns, "create", "-f", "-"],
        capsule("forged", {
          serviceAccountName: "nobody",
          sources: [{ inline: { "statement.txt": "signed by the publisher" } }],
        }),
      ),
      "create past admission",
    );
    const refused = await waitReady<CapsuleView>(ns, "capsule/forged", "False", "Forbidden");
    expect(condition(refused, "Ready")?.message).toBe(
      `ServiceAccount "${ns}/nobody" may not use Publisher "${ns}/survey-publisher" (needs the verb use on publishers.qcap.dev)`,
    );
    await nothingPublished("forged");

    // A refused Capsule cannot make the operator delete what another one of the same name published
    // there before (deleted with Retain): deletionPolicy Delete removes only what it published itself.
    await apply(ns, capsule("ghost", { sources: [{ inline: { "a.txt": "kept" } }] }));
    await waitReady<CapsuleView>(ns, "capsule/ghost");
    must(await kubectl(["-n", ns, "delete", "capsule", "ghost"]), "delete (Retain)");
    const kept = await listKeys(s3, BUCKET, `registry/${ns}/ghost/`);
    expect(kept.length).toBe(1);
    await apply(
      ns,
      capsule("ghost", {
        serviceAccountName: "nobody",
        deletionPolicy: "Delete",
        sources: [{ inline: { "a.txt": "x" } }],
      }),
    );
    await waitReady<CapsuleView>(ns, "capsule/ghost", "False", "Forbidden");
    must(await kubectl(["-n", ns, "delete", "capsule", "ghost", "--timeout=60s"]), "delete (Delete)");
    expect(await listKeys(s3, BUCKET, `registry/${ns}/ghost/`)).toEqual(kept);
  });

  it("a ClusterPublisher serves several namespaces; its Secrets stay in the operator's namespace", async () => {
    const name = `shared-${randomBytes(3).toString("hex")}`;
    await createSecret(clusterNs, "shared-signing-key", [`--from-file=signing.key=${publisher.file}`], "key");
    await createSecret(
      clusterNs,
      "shared-s3-credentials",
      [
        `--from-literal=AWS_ACCESS_KEY_ID=${env("AWS_ACCESS_KEY_ID")}`,
        `--from-literal=AWS_SECRET_ACCESS_KEY=${env("AWS_SECRET_ACCESS_KEY")}`,
      ],
      "credentials",
    );
    must(
      await kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "qcap.dev/v1alpha1",
          kind: "ClusterPublisher",
          metadata: { name },
          spec: {
            signingKeySecretRef: { name: "shared-signing-key" },
            destination: {
              endpoint: env("AWS_ENDPOINT_URL"),
              bucket: BUCKET,
              prefix: "shared",
              credentialsSecretRef: { name: "shared-s3-credentials" },
            },
          },
        }),
      ),
      "ClusterPublisher",
    );
    // use on a cluster-scoped object: a ClusterRole and a ClusterRoleBinding for tenant-b's ServiceAccount.
    must(
      await kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "List",
          items: [
            {
              apiVersion: "rbac.authorization.k8s.io/v1",
              kind: "ClusterRole",
              metadata: { name: `use-${name}` },
              rules: [
                {
                  apiGroups: ["qcap.dev"],
                  resources: ["clusterpublishers"],
                  resourceNames: [name],
                  verbs: ["use"],
                },
              ],
            },
            {
              apiVersion: "rbac.authorization.k8s.io/v1",
              kind: "ClusterRoleBinding",
              metadata: { name: `use-${name}-${otherNs}` },
              roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `use-${name}` },
              subjects: [{ kind: "ServiceAccount", name: "qcap", namespace: otherNs }],
            },
          ],
        }),
      ),
      "RBAC",
    );
    const shared = (capsuleName: string, sa?: string) =>
      JSON.stringify({
        apiVersion: "qcap.dev/v1alpha1",
        kind: "Capsule",
        metadata: { name: capsuleName },
        spec: {
          publisherRef: { kind: "ClusterPublisher", name },
          ...(sa ? { serviceAccountName: sa } : {}),
          sources: [{ inline: { "b.txt": "tenant b" } }],
        },
      });
    must(await kubectl(["-n", otherNs, "create", "-f", "-"], shared("b-notes")), "create");
    const ready = await waitReady<CapsuleView>(otherNs, "capsule/b-notes");
    expect(ready.status?.artifact?.key.startsWith(`shared/${otherNs}/b-notes/`)).toBe(true);
    // tenant-a's ServiceAccount was not given use: its Capsule is refused.
    must(await kubectl(["-n", ns, "create", "-f", "-"], shared("a-on-shared")), "create");
    const refused = await waitReady<CapsuleView>(ns, "capsule/a-on-shared", "False", "Forbidden");
    expect(condition(refused, "Ready")?.message).toBe(
      `ServiceAccount "${ns}/qcap" may not use ClusterPublisher "${name}" (needs the verb use on clusterpublishers.qcap.dev)`,
    );
  });

  it("a Capsule's grant policy limits the grants minted for it, even for those holding the grant verb", async () => {
    await mergePatch(ns, "capsule", "survey", {
      spec: { grantPolicy: { maxDuration: "24h", paths: ["counts/**"] } },
    });
    const grant = (name: string, extra: Record<string, unknown>) =>
      JSON.stringify({
        apiVersion: "qcap.dev/v1alpha1",
        kind: "CapabilityGrant",
        metadata: { name },
        spec: {
          capsuleRef: { name: "survey" },
          audience: alice.recipient,
          secretName: `${name}-grant`,
          ...extra,
        },
      });
    must(
      await asBob(
        ["-n", ns, "create", "-f", "-"],
        grant("too-long", { duration: "720h", paths: ["counts/**"] }),
      ),
      "create",
    );
    const long = await waitReady<CapsuleView>(
      ns,
      "capabilitygrant/too-long",
      "False",
      "GrantPolicyViolation",
    );
    expect(condition(long, "Ready")?.message).toBe(
      'the grant policy of Capsule "survey" allows grants of at most 24h',
    );
    must(await asBob(["-n", ns, "create", "-f", "-"], grant("all-paths", { duration: "1h" })), "create");
    await waitReady(ns, "capabilitygrant/all-paths", "False", "GrantPolicyViolation");
    must(
      await asBob(["-n", ns, "create", "-f", "-"], grant("within", { duration: "1h", paths: ["counts/**"] })),
      "create",
    );
    await waitReady(ns, "capabilitygrant/within", "True", "Minted");
    for (const name of ["too-long", "all-paths"])
      expect((await kubectl(["-n", ns, "get", "secret", `${name}-grant`])).code).not.toBe(0);
  });

  it("the operator's logs hold no key, credential or fetched content", () => {
    const text = op.logText();
    for (const secret of [
      publisher.seedHex,
      publisher.identity,
      env("AWS_SECRET_ACCESS_KEY"),
      "tenant-b-secret",
    ])
      expect(text).not.toContain(secret);
  });
});
