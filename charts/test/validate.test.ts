// The rendered manifests validate: kubeconform (offline, schemas from our CRDs and from the local API
// server's OpenAPI) and `kubectl apply --dry-run=server` against the real API server.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { env, kubectl, run } from "../../testenv/test/helpers.js";
import { CUSTOM_VALUES } from "./fixtures.js";
import { find, type Manifest, parseManifests, REPO, render, toYaml } from "./helpers.js";
import { schemaLocation, writeBuiltinSchemas, writeCrdSchemas } from "./schemas.js";

const work = mkdtempSync(join(tmpdir(), "qcap-chart-validate-"));
const schemas = join(work, "schemas");
const suffix = randomBytes(3).toString("hex");
const releaseNs = `qcap-chart-${suffix}`;
const teamNs = [`team-a-${suffix}`, `team-b-${suffix}`];
const customValues = { ...CUSTOM_VALUES, watchNamespaces: teamNs };

let crds: Manifest[] = [];

beforeAll(async () => {
  crds = readdirSync(join(REPO, "crds"))
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseManifests(readFileSync(join(REPO, "crds", f), "utf8")));
  writeCrdSchemas(schemas, crds);
  await writeBuiltinSchemas(schemas, [
    "v1",
    "apps/v1",
    "rbac.authorization.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "admissionregistration.k8s.io/v1",
  ]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface KubeconformResult {
  code: number;
  resources: { kind: string; name: string; status: string; msg: string }[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

async function kubeconform(manifests: string, extra: string[] = []): Promise<KubeconformResult> {
  const file = join(work, `m-${randomBytes(4).toString("hex")}.yaml`);
  writeFileSync(file, manifests);
  const r = await run(env("QCAP_KUBECONFORM"), [
    "-strict",
    "-summary",
    "-verbose",
    "-output",
    "json",
    "-schema-location",
    schemaLocation(schemas),
    ...extra,
    file,
  ]);
  const out = JSON.parse(r.stdout) as Omit<KubeconformResult, "code">;
  return { code: r.code, ...out };
}

describe("kubeconform (offline, strict)", () => {
  it("the default rendering, CRDs included, is valid", async () => {
    const docs = await render({ namespace: releaseNs, includeCrds: true });
    const r = await kubeconform(toYaml(docs));
    expect(r.resources.filter((x) => x.status !== "statusValid")).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ valid: docs.length, invalid: 0, errors: 0, skipped: 0 });
  });

  it("the rendering with every option set is valid (the ServiceMonitor kind has no schema offline)", async () => {
    const docs = await render({ namespace: releaseNs, values: [customValues] });
    const r = await kubeconform(toYaml(docs), ["-skip", "ServiceMonitor"]);
    expect(r.resources.filter((x) => !["statusValid", "statusSkipped"].includes(x.status))).toEqual([]);
    expect(r.summary).toMatchObject({ valid: docs.length - 1, invalid: 0, errors: 0, skipped: 1 });
    expect(r.code).toBe(0);
  });

  it("the schemas catch real mistakes: unknown fields, wrong types, a Capsule without a publisher", async () => {
    const docs = await render({ namespace: releaseNs });
    const dep = structuredClone(find(docs, "Deployment")[0] as Manifest);
    dep.spec.replica = 2; // typo of replicas
    dep.spec.template.spec.containers[0].ports[0].containerPort = "eighty";
    const r = await kubeconform(toYaml([dep]));
    expect(r.code).toBe(1);
    expect(r.resources[0]?.msg).toMatch(/replica/);
    expect(r.resources[0]?.msg).toMatch(/containerPort|want integer/);

    const capsule = {
      apiVersion: "qcap.dev/v1alpha1",
      kind: "Capsule",
      metadata: { name: "c", namespace: "x" },
      spec: { sources: [{ inline: { "a.txt": "a" } }], signingKeySecretRef: { name: "k" }, colour: "red" },
    };
    const bad = await kubeconform(toYaml([capsule]));
    expect(bad.code).toBe(1);
    expect(bad.resources[0]?.msg).toMatch(/publisherRef/);
    expect(bad.resources[0]?.msg).toMatch(/colour/);
    // The signing key is the publisher's: a Capsule cannot name one.
    expect(bad.resources[0]?.msg).toMatch(/signingKeySecretRef/);
  });

  it("the example resources in examples/ match the CRD schemas", async () => {
    const files = readdirSync(join(REPO, "examples")).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const docs = files.flatMap((f) => parseManifests(readFileSync(join(REPO, "examples", f), "utf8")));
    const ours = docs.filter((d) => d.apiVersion.startsWith("qcap.dev/"));
    expect(ours.map((d) => d.kind)).toEqual(
      expect.arrayContaining(["Capsule", "CapabilityGrant", "Publisher"]),
    );
    const r = await kubeconform(toYaml(docs));
    expect(r.resources.filter((x) => x.status !== "statusValid")).toEqual([]);
    expect(r.code).toBe(0);
  });
});

// Server-side apply: the CRDs may already exist in the shared cluster (created by helm or other suites);
// --force-conflicts only matters for them, and a dry run changes nothing.
const dryRun = ["apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-"];

describe("kubectl apply --server-side --dry-run=server", () => {
  beforeAll(async () => {
    for (const ns of [releaseNs, ...teamNs]) {
      const r = await kubectl(["create", "namespace", ns]);
      expect(r.stderr).toBe("");
    }
  });

  it("the API server accepts the default rendering, CRDs included", async () => {
    const docs = await render({ namespace: releaseNs, includeCrds: true });
    const r = await kubectl(dryRun, toYaml(docs));
    expect(r.stderr).toBe("");
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(docs.length);
    for (const l of lines) expect(l).toMatch(/ serverside-applied \(server dry run\)$/);
    expect(r.stdout).toContain(`customresourcedefinition.apiextensions.k8s.io/capsules.qcap.dev`);
    expect(r.stdout).toContain("deployment.apps/qcap-qcap-operator serverside-applied (server dry run)");
  });

  it("the API server accepts the rendering with every option set (namespaced Roles), except the ServiceMonitor kind it does not serve", async () => {
    const docs = await render({ namespace: releaseNs, values: [customValues] });
    const served = docs.filter((d) => d.kind !== "ServiceMonitor");
    expect(served).toHaveLength(docs.length - 1);
    const r = await kubectl(dryRun, toYaml(served));
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toHaveLength(served.length);
    // One Role and one RoleBinding per watched namespace (kubectl prints no namespace).
    expect(r.stdout.match(/^role\.rbac\.authorization\.k8s\.io\/capsules serverside-applied/gm)).toHaveLength(
      teamNs.length,
    );
    expect(
      r.stdout.match(/^rolebinding\.rbac\.authorization\.k8s\.io\/capsules serverside-applied/gm),
    ).toHaveLength(teamNs.length);
    const sm = await kubectl(dryRun, toYaml(find(docs, "ServiceMonitor")));
    expect(sm.stderr).toContain('no matches for kind "ServiceMonitor" in version "monitoring.coreos.com/v1"');
  });

  it("the API server rejects what kubeconform cannot see (a Role in a namespace that does not exist)", async () => {
    const docs = await render({ namespace: releaseNs, values: [{ watchNamespaces: [`missing-${suffix}`] }] });
    const r = await kubectl(dryRun, toYaml(find(docs, "Role")));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`namespaces "missing-${suffix}" not found`);
  });
});
