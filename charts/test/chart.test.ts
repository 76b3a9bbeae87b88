// helm lint / helm template with default and non-default values, values.schema.json, CRDs in sync.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OperatorProcess } from "../../operator/test/support.js";
import { env } from "../../testenv/test/helpers.js";
import { crdDrift } from "../sync-crds.mjs";
import { CUSTOM_VALUES } from "./fixtures.js";
import {
  CHART,
  find,
  helm,
  type Manifest,
  one,
  type PolicyRule,
  REPO,
  render,
  template,
  valuesFile,
} from "./helpers.js";

function container(docs: Manifest[]) {
  const dep = one(docs, "Deployment");
  expect(dep.spec.template.spec.containers).toHaveLength(1);
  return dep.spec.template.spec.containers[0];
}

const TENANT_ROLES = ["qcap-capsule-author", "qcap-grant-issuer", "qcap-publisher-admin"];

/** The operator's own rules (not the roles the chart makes for tenants). */
function allRules(docs: Manifest[]): PolicyRule[] {
  return [...find(docs, "ClusterRole"), ...find(docs, "Role")]
    .filter((r) => !TENANT_ROLES.includes(r.metadata.name))
    .flatMap((r) => r.rules as PolicyRule[]);
}

describe("helm lint", () => {
  it("passes (strict) with the default values and with every option set", async () => {
    const base = ["lint", CHART, "--strict", "--kube-version", env("QCAP_KUBE_VERSION")];
    const plain = await helm(base);
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    expect(plain.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    const custom = await helm([...base, "-f", valuesFile(CUSTOM_VALUES)]);
    expect(custom.code, custom.stdout + custom.stderr).toBe(0);
  });

  it("fails on values the schema rejects", async () => {
    const bad = await helm([
      "lint",
      CHART,
      "--kube-version",
      env("QCAP_KUBE_VERSION"),
      "--set",
      "logLevel=verbose",
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toContain("logLevel");
  });
});

describe("helm template with the default values", () => {
  it("renders a locked-down Deployment with probes on the operator's health endpoints", async () => {
    const docs = await render();
    const dep = one(docs, "Deployment");
    expect(dep.metadata.namespace).toBe("qcap-system");
    expect(dep.spec.replicas).toBe(1);
    const pod = dep.spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    const c = container(docs);
    expect(c.image).toBe("ghcr.io/qcap-dev/qcap-operator:0.1.0");
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    // Read-only root filesystem: /tmp is the only writable path, an emptyDir with a size limit.
    expect(c.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
    expect(pod.volumes).toEqual([{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }]);
    expect(c.args).toEqual([
      "--listen=0.0.0.0:8080",
      "--log-level=info",
      "--leader-election-namespace=qcap-system",
      "--leader-election-id=qcap-qcap-operator-leader",
      "--lease-duration=15s",
      "--renew-deadline=10s",
      "--retry-period=2s",
      "--workers=2",
      "--resync=10m",
      "--backoff=1s",
      "--max-backoff=5m",
      "--shutdown-timeout=25s",
      "--s3-connect-timeout=10s",
      "--s3-idle-timeout=30s",
      "--s3-request-timeout=5m",
      "--http-source-max-size=2Gi",
      "--http-source-timeout=30s",
      "--http-source-deadline=30m",
      "--default-service-account=qcap",
    ]);
    expect(pod.serviceAccountName).toBe("qcap-qcap-operator");
    expect(one(docs, "ServiceAccount").metadata.name).toBe("qcap-qcap-operator");
  });

  it("watches all namespaces through one ClusterRole, and the Lease through a Role limited to its name", async () => {
    const docs = await render();
    const cr = one(docs, "ClusterRole", "qcap-qcap-operator");
    expect(one(docs, "ClusterRole", "qcap-qcap-operator-cluster-reader").rules).toEqual([
      { apiGroups: ["qcap.dev"], resources: ["clusterpublishers"], verbs: ["get"] },
      {
        apiGroups: ["admissionregistration.k8s.io"],
        resources: ["validatingadmissionpolicybindings"],
        verbs: ["list"],
      },
    ]);
    const crb = one(docs, "ClusterRoleBinding", "qcap-qcap-operator");
    expect(crb.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: cr.metadata.name,
    });
    expect(crb.subjects).toEqual([
      { kind: "ServiceAccount", name: "qcap-qcap-operator", namespace: "qcap-system" },
    ]);
    const roles = find(docs, "Role").filter((r) => !r.metadata.name.endsWith("clusterpublisher-secrets"));
    expect(roles.map((r) => r.metadata.name)).toEqual(["qcap-qcap-operator-leader-election"]);
    // ClusterPublisher Secrets: get, in the release namespace only.
    const cps = one(docs, "Role", "qcap-qcap-operator-clusterpublisher-secrets");
    expect(cps.metadata.namespace).toBe("qcap-system");
    expect(cps.rules).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }]);
    expect(roles[0]?.metadata.namespace).toBe("qcap-system");
    expect(roles[0]?.rules).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["qcap-qcap-operator-leader"],
        verbs: ["get", "update"],
      },
    ]);
    const rb = one(docs, "RoleBinding", "qcap-qcap-operator-leader-election");
    expect(rb.roleRef.name).toBe("qcap-qcap-operator-leader-election");
  });

  it("grants no wildcards, no RBAC, pod, exec or cluster-scoped write access; impersonates ServiceAccounts only", async () => {
    for (const values of [[], [CUSTOM_VALUES]]) {
      const rules = allRules(await render({ values }));
      expect(rules.length).toBeGreaterThan(0);
      for (const r of rules) {
        for (const field of [r.apiGroups, r.resources, r.verbs, r.resourceNames ?? []])
          expect(field, JSON.stringify(r)).not.toContain("*");
        expect(r.nonResourceURLs).toBeUndefined();
        expect(r.apiGroups).not.toContain("rbac.authorization.k8s.io");
        if (r.verbs.includes("impersonate")) {
          // Sources are read as the Capsule's ServiceAccount: the one impersonation the operator needs.
          expect(r).toEqual({
            apiGroups: [""],
            resources: ["serviceaccounts"],
            ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
            verbs: ["impersonate"],
          });
          continue;
        }
        for (const res of r.resources ?? [])
          expect(res).not.toMatch(
            /^(pods|pods\/.*|deployments|serviceaccounts.*|namespaces|nodes|roles|rolebindings|clusterroles|clusterrolebindings|customresourcedefinitions)$/,
          );
        for (const v of r.verbs)
          expect(["get", "list", "watch", "create", "update", "patch", "delete"]).toContain(v);
        expect(r.verbs).not.toContain("escalate");
      }
    }
  });

  it("renders the tenant roles (aggregated) and the admission policies with their bindings", async () => {
    const docs = await render();
    const roles = Object.fromEntries(
      find(docs, "ClusterRole")
        .filter((r) => TENANT_ROLES.includes(r.metadata.name))
        .map((r) => [r.metadata.name, r]),
    );
    expect(Object.keys(roles).sort()).toEqual(TENANT_ROLES);
    expect(
      roles["qcap-capsule-author"]?.metadata.labels?.["rbac.authorization.k8s.io/aggregate-to-edit"],
    ).toBe("true");
    // Opening capsules for others and managing publishers: admin only.
    for (const name of ["qcap-grant-issuer", "qcap-publisher-admin"])
      expect(roles[name]?.metadata.labels?.["rbac.authorization.k8s.io/aggregate-to-edit"]).toBeUndefined();
    const verbsOf = (name: string, resource: string) =>
      (roles[name]?.rules as PolicyRule[])
        .filter((r) => r.resources?.includes(resource))
        .flatMap((r) => r.verbs);
    expect(verbsOf("qcap-capsule-author", "capsules")).not.toContain("grant");
    expect(verbsOf("qcap-capsule-author", "publishers")).not.toContain("use");
    expect(verbsOf("qcap-grant-issuer", "capsules")).toEqual(["grant"]);
    expect(verbsOf("qcap-publisher-admin", "publishers")).toContain("use");

    const policies = find(docs, "ValidatingAdmissionPolicy").map((p) => p.metadata.name);
    expect(policies).toEqual([
      "qcap-qcap-operator-capsules",
      "qcap-qcap-operator-grants",
      "qcap-qcap-operator-publishers",
    ]);
    const bindings = find(docs, "ValidatingAdmissionPolicyBinding");
    expect(bindings.map((b) => [b.spec.policyName, b.spec.validationActions])).toEqual(
      policies.map((p) => [p, ["Deny"]]),
    );
    const off = await render({ values: [{ admissionPolicies: { enabled: false } }] });
    expect(find(off, "ValidatingAdmissionPolicy")).toEqual([]);
    // Locked down to the default ServiceAccount: impersonation of that name only.
    const locked = await render({
      values: [
        {
          tenancy: {
            defaultServiceAccount: "qcap",
            createRoles: true,
            clusterPublishers: true,
            serviceAccountNames: ["qcap"],
          },
        },
      ],
    });
    const impersonate = (one(locked, "ClusterRole", "qcap-qcap-operator").rules as PolicyRule[]).filter((r) =>
      r.verbs.includes("impersonate"),
    );
    expect(impersonate).toEqual([
      { apiGroups: [""], resources: ["serviceaccounts"], resourceNames: ["qcap"], verbs: ["impersonate"] },
    ]);
  });

  it("renders the metrics Service and no ServiceMonitor", async () => {
    const docs = await render();
    const svc = one(docs, "Service");
    expect(svc.spec.type).toBe("ClusterIP");
    expect(svc.spec.ports).toEqual([{ name: "metrics", port: 8080, targetPort: "http", protocol: "TCP" }]);
    expect(svc.spec.selector).toEqual(one(docs, "Deployment").spec.selector.matchLabels);
    expect(find(docs, "ServiceMonitor")).toEqual([]);
  });

  it("does not put the CRDs among the templates (helm installs crds/ first), but --include-crds shows them", async () => {
    expect(find(await render(), "CustomResourceDefinition")).toEqual([]);
    const withCrds = await render({ includeCrds: true });
    expect(
      find(withCrds, "CustomResourceDefinition")
        .map((c) => c.metadata.name)
        .sort(),
    ).toEqual([
      "capabilitygrants.qcap.dev",
      "capsules.qcap.dev",
      "clusterpublishers.qcap.dev",
      "publishers.qcap.dev",
    ]);
  });
});

describe("helm template with every option set", () => {
  it("passes each value through", async () => {
    const docs = await render({ release: "rel", namespace: "platform", values: [CUSTOM_VALUES] });
    const dep = one(docs, "Deployment", "capsules");
    expect(dep.spec.replicas).toBe(2);
    const pod = dep.spec.template.spec;
    expect(pod.serviceAccountName).toBe("qcap");
    expect(pod.imagePullSecrets).toEqual([{ name: "regcred" }]);
    expect(pod.nodeSelector).toEqual(CUSTOM_VALUES.nodeSelector);
    expect(pod.tolerations).toEqual(CUSTOM_VALUES.tolerations);
    expect(pod.affinity).toEqual(CUSTOM_VALUES.affinity);
    expect(pod.priorityClassName).toBe("platform-critical");
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    expect(pod.volumes[0].emptyDir.sizeLimit).toBe("10Gi");
    expect(dep.spec.template.metadata.annotations).toEqual(CUSTOM_VALUES.podAnnotations);
    expect(dep.spec.template.metadata.labels.team).toBe("data");
    const c = container(docs);
    expect(c.image).toBe(`registry.example.com/platform/qcap-operator@sha256:${"ab".repeat(32)}`);
    expect(c.imagePullPolicy).toBe("Always");
    expect(c.resources).toEqual(CUSTOM_VALUES.resources);
    expect(c.ports[0].containerPort).toBe(9090);
    expect(c.args).toEqual([
      "--listen=0.0.0.0:9090",
      "--log-level=debug",
      "--namespaces=team-a,team-b",
      "--leader-election-namespace=platform",
      "--leader-election-id=qcap-leader",
      "--lease-duration=30s",
      "--renew-deadline=20s",
      "--retry-period=4s",
      "--workers=4",
      "--resync=1h30m",
      "--backoff=1.5s",
      "--max-backoff=10m",
      "--shutdown-timeout=50s",
      "--s3-connect-timeout=5s",
      "--s3-idle-timeout=20s",
      "--s3-request-timeout=10m",
      "--max-per-destination=2",
      "--http-source-allow=artifacts.example.org,*.mirror.example.org:8443,10.20.0.0/16",
      "--http-source-deny=203.0.113.0/24",
      "--http-source-max-size=512Mi",
      "--http-source-timeout=1m",
      "--http-source-deadline=1h",
      "--default-service-account=qcap",
      "--identity=fixed",
    ]);
    expect(c.env).toContainEqual({ name: "AWS_REGION", value: "eu-west-1" });
    expect(c.env).toContainEqual({
      name: "POD_NAMESPACE",
      valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } },
    });
    const sa = one(docs, "ServiceAccount", "qcap");
    expect(sa.metadata.annotations).toEqual({ "example.com/role": "publisher" });
    const svc = one(docs, "Service", "capsules-metrics");
    expect(svc.metadata.annotations).toEqual({ "prometheus.io/scrape": "true" });
    expect(svc.spec.ports[0]).toMatchObject({ port: 9100, targetPort: "http" });
    const sm = one(docs, "ServiceMonitor", "capsules");
    expect(sm.metadata.labels?.release).toBe("prom");
    expect(sm.spec.endpoints).toEqual([
      { port: "metrics", path: "/metrics", interval: "15s", scrapeTimeout: "5s" },
    ]);
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: ["platform"] });
  });

  it("with watched namespaces: a Role and RoleBinding in each, no ClusterRole for namespaced access", async () => {
    const docs = await render({ release: "rel", namespace: "platform", values: [CUSTOM_VALUES] });
    // Only the tenant roles (bound by administrators) and the ClusterPublisher reader.
    expect(find(docs, "ClusterRole").map((r) => r.metadata.name)).toEqual([
      "capsules-cluster-reader",
      ...TENANT_ROLES,
    ]);
    expect(find(docs, "ClusterRoleBinding").map((r) => r.metadata.name)).toEqual(["capsules-cluster-reader"]);
    const roles = find(docs, "Role", "capsules");
    expect(roles.map((r) => r.metadata.namespace)).toEqual(["team-a", "team-b"]);
    const bindings = find(docs, "RoleBinding", "capsules");
    expect(bindings.map((b) => b.metadata.namespace)).toEqual(["team-a", "team-b"]);
    for (const b of bindings) {
      expect(b.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "capsules" });
      expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: "qcap", namespace: "platform" }]);
    }
    // Same rules as the ClusterRole of the all-namespaces mode.
    const clusterRules = one(await render(), "ClusterRole", "qcap-qcap-operator").rules;
    for (const r of roles) expect(r.rules).toEqual(clusterRules);
    const lease = one(docs, "Role", "capsules-leader-election");
    expect(lease.metadata.namespace).toBe("platform");
    expect(lease.rules[1].resourceNames).toEqual(["qcap-leader"]);
  });

  it("without leader election: --no-leader-elect and no Lease Role; rbac.create=false and an existing ServiceAccount", async () => {
    const docs = await render({
      values: [
        {
          leaderElection: { enabled: false },
          rbac: { create: false },
          serviceAccount: { create: false, name: "existing" },
        },
      ],
    });
    expect(container(docs).args).toContain("--no-leader-elect");
    expect(container(docs).args.join(" ")).not.toContain("--leader-election");
    for (const kind of ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"])
      expect(find(docs, kind), kind).toEqual([]);
    expect(one(docs, "Deployment").spec.template.spec.serviceAccountName).toBe("existing");
  });
});

describe("values.schema.json and value checks reject wrong values", () => {
  const cases: [string, unknown, RegExp][] = [
    [
      "an unknown top-level key (typo)",
      { replicas: 2 },
      /additional properties? .*replicas|replicas.*not allowed/i,
    ],
    ["a log level that does not exist", { logLevel: "verbose" }, /logLevel/],
    ["replicaCount as a string", { replicaCount: "2" }, /replicaCount/],
    ["a negative replica count", { replicaCount: -1 }, /replicaCount/],
    ["a namespace that is not a DNS label", { watchNamespaces: ["Team_A"] }, /watchNamespaces/],
    ["the same namespace twice", { watchNamespaces: ["a", "a"] }, /watchNamespaces/],
    [
      "a malformed digest",
      { image: { repository: "r/q", pullPolicy: "Always", digest: "sha256:xyz" } },
      /digest/,
    ],
    ["an unknown pull policy", { image: { repository: "r/q", pullPolicy: "Sometimes" } }, /pullPolicy/],
    ["a port out of range", { port: 70000 }, /port/],
    [
      "a malformed duration",
      { reconcile: { workers: 2, resync: "ten minutes", backoff: "1s", maxBackoff: "5m" } },
      /resync/,
    ],
    [
      "zero workers",
      { reconcile: { workers: 0, resync: "10m", backoff: "1s", maxBackoff: "5m" } },
      /workers/,
    ],
    [
      "a writable root filesystem",
      { securityContext: { readOnlyRootFilesystem: false } },
      /readOnlyRootFilesystem/,
    ],
    [
      "privilege escalation",
      { securityContext: { allowPrivilegeEscalation: true } },
      /allowPrivilegeEscalation/,
    ],
    [
      "added capabilities",
      { securityContext: { capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] } } },
      /add/,
    ],
    ["running as root", { podSecurityContext: { runAsNonRoot: false } }, /runAsNonRoot/],
    [
      "an unconfined seccomp profile",
      { podSecurityContext: { seccompProfile: { type: "Unconfined" } } },
      /seccompProfile|type/,
    ],
    ["a malformed memory limit", { resources: { limits: { memory: "lots" } } }, /memory/],
    ["an env var without a name", { extraEnv: [{ value: "x" }] }, /extraEnv|name/],
    ["a toleration with an unknown effect", { tolerations: [{ key: "k", effect: "Sometimes" }] }, /effect/],
    ["a nodeSelector with a non-string value", { nodeSelector: { zone: 1 } }, /nodeSelector/],
    [
      "two HTTP source allow entries in one item",
      {
        httpSources: {
          allow: ["a.example,b.example"],
          deny: [],
          maxSize: "1Gi",
          timeout: "30s",
          deadline: "30m",
        },
      },
      /allow/,
    ],
    [
      "a host name among the denied networks",
      {
        httpSources: {
          allow: [],
          deny: ["metadata.internal"],
          maxSize: "1Gi",
          timeout: "30s",
          deadline: "30m",
        },
      },
      /deny/,
    ],
    [
      "a malformed S3 timeout",
      { s3: { connectTimeout: "soon", idleTimeout: "30s", requestTimeout: "5m", maxPerDestination: 0 } },
      /connectTimeout/,
    ],
  ];
  it.each(cases)("rejects %s", async (_name, values, message) => {
    const r = await template({ values: [values] });
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema|execution error/);
    expect(r.stderr).toMatch(message);
  });

  it("rejects two replicas without leader election (a check across values)", async () => {
    const r = await template({ values: [{ replicaCount: 2, leaderElection: { enabled: false } }] });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("replicaCount > 1 requires leaderElection.enabled=true");
  });

  it("rejects a ServiceMonitor without the metrics Service", async () => {
    const r = await template({
      values: [{ metrics: { service: { enabled: false, port: 8080 }, serviceMonitor: { enabled: true } } }],
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("metrics.serviceMonitor.enabled requires metrics.service.enabled");
  });

  it("rejects rbac with serviceAccount.create=false and no name", async () => {
    const r = await template({ values: [{ serviceAccount: { create: false } }] });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("serviceAccount.name is required");
  });
});

describe("the operator accepts what the chart renders", () => {
  it("starts with the arguments rendered with every option set and answers /healthz", async () => {
    const args = container(await render({ release: "rel", namespace: "platform", values: [CUSTOM_VALUES] }))
      .args as string[];
    const op = new OperatorProcess([
      ...args.map((a) => (a.startsWith("--listen=") ? "--listen=127.0.0.1:0" : a)),
      `--kubeconfig=${env("KUBECONFIG")}`,
    ]);
    try {
      await op.waitLog("serving health and metrics", () => true, 30_000);
      expect((await op.http("/healthz")).status).toBe(200);
      expect(op.alive).toBe(true);
      expect(op.raw.filter((l) => l.startsWith("stderr:"))).toEqual([]);
    } finally {
      await op.kill("SIGKILL");
    }
  });

  it("the chart's appVersion is the operator's version", () => {
    const chart = readFileSync(join(CHART, "Chart.yaml"), "utf8");
    const version = (
      JSON.parse(readFileSync(join(REPO, "operator", "package.json"), "utf8")) as { version: string }
    ).version;
    expect(chart).toContain(`\nappVersion: "${version}"\n`);
  });
});

describe("CRDs", () => {
  it("the chart's crds/ folder is a byte-for-byte copy of crds/ (node charts/sync-crds.mjs)", () => {
    expect(crdDrift()).toEqual([]);
    const source = readdirSync(join(REPO, "crds"))
      .filter((f) => f.endsWith(".yaml"))
      .sort();
    expect(source.length).toBeGreaterThanOrEqual(2);
    for (const f of source)
      expect(readFileSync(join(CHART, "crds", f), "utf8")).toBe(readFileSync(join(REPO, "crds", f), "utf8"));
  });

  it("values.yaml documents every value", () => {
    // Each value (a leaf key) has a comment right above it or above one of its parent keys.
    const lines = readFileSync(join(CHART, "values.yaml"), "utf8").split("\n");
    const keys = lines.flatMap((line, i) => {
      const m = /^(\s*)([A-Za-z][\w.-]*):(.*)$/.exec(line);
      if (!m) return [];
      let j = i - 1;
      while (j >= 0 && lines[j]?.trim() === "") j--;
      return [
        {
          indent: m[1]?.length ?? 0,
          key: m[2] ?? "",
          leaf: (m[3] ?? "").trim() !== "",
          commented: (lines[j] ?? "").trim().startsWith("#"),
        },
      ];
    });
    const undocumented: string[] = [];
    const stack: typeof keys = [];
    for (const k of keys) {
      while (stack.length && (stack[stack.length - 1]?.indent ?? 0) >= k.indent) stack.pop();
      if (k.leaf && !k.commented && !stack.some((a) => a.commented))
        undocumented.push([...stack.map((a) => a.key), k.key].join("."));
      stack.push(k);
    }
    expect(keys.length).toBeGreaterThan(40);
    expect(undocumented).toEqual([]);
  });
});
