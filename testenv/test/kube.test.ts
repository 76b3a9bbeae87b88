import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { env, kubeApi, kubectl } from "./helpers.js";

const suffix = randomBytes(3).toString("hex");

describe("kube-apiserver", () => {
  it("is ready (kubectl get --raw /readyz) and reports its real version", async () => {
    const ready = await kubectl(["get", "--raw", "/readyz"]);
    expect(ready.stderr).toBe("");
    expect(ready.stdout.trim()).toBe("ok");
    const version = await kubectl(["version", "-o", "json"]);
    expect(version.code).toBe(0);
    const v = JSON.parse(version.stdout) as { serverVersion: { gitVersion: string; minor: string } };
    expect(v.serverVersion.gitVersion).toMatch(/^v1\.36\.\d+$/);
    expect(v.serverVersion.minor).toBe("36");
  });

  it("applies a CRD and serves its custom resources", async () => {
    const group = `e2e-${suffix}.qcap.test`;
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: "Namespaced",
        names: { plural: "widgets", singular: "widget", kind: "Widget" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: {
                  spec: {
                    type: "object",
                    required: ["size"],
                    properties: { size: { type: "integer", minimum: 1 } },
                  },
                },
              },
            },
          },
        ],
      },
    };
    const applied = await kubectl(["apply", "-f", "-"], JSON.stringify(crd));
    expect(applied.stderr).toBe("");
    expect(applied.stdout).toContain("created");
    const established = await kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      `crd/widgets.${group}`,
    ]);
    expect(established.code).toBe(0);

    const good = { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "w1" }, spec: { size: 3 } };
    const created = await kubectl(["apply", "-n", "default", "-f", "-"], JSON.stringify(good));
    expect(created.stderr).toBe("");
    const got = await kubectl([
      "get",
      `widgets.${group}`,
      "w1",
      "-n",
      "default",
      "-o",
      "jsonpath={.spec.size}",
    ]);
    expect(got.stdout).toBe("3");

    // Server-side dry run validates against the CRD schema.
    const bad = { ...good, metadata: { name: "w2" }, spec: { size: 0 } };
    const rejected = await kubectl(
      ["apply", "--dry-run=server", "-n", "default", "-f", "-"],
      JSON.stringify(bad),
    );
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toMatch(/spec\.size/);
    const dry = await kubectl(
      ["apply", "--dry-run=server", "-n", "default", "-f", "-"],
      JSON.stringify({ ...good, metadata: { name: "w3" } }),
    );
    expect(dry.stdout).toContain("(server dry run)");
    const absent = await kubectl(["get", `widgets.${group}`, "w3", "-n", "default"]);
    expect(absent.stderr).toContain("NotFound");
  });

  it("RBAC denies a test user until a RoleBinding allows it", async () => {
    const ns = `rbac-${suffix}`;
    const admin = env("QCAP_KUBE_ADMIN_TOKEN");
    const alice = env("QCAP_KUBE_ALICE_TOKEN");
    const bob = env("QCAP_KUBE_BOB_TOKEN");
    expect((await kubectl(["create", "namespace", ns])).code).toBe(0);

    const secretsPath = `/api/v1/namespaces/${ns}/secrets`;
    const denied = await kubeApi("GET", secretsPath, alice);
    expect(denied.status).toBe(403);
    expect((denied.json() as { reason: string }).reason).toBe("Forbidden");
    expect((await kubeApi("GET", secretsPath, "not-a-valid-token")).status).toBe(401);
    expect((await kubeApi("GET", secretsPath, admin)).status).toBe(200);

    const role = await kubeApi("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, admin, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "secret-reader" },
      rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] }],
    });
    expect(role.status).toBe(201);
    const binding = await kubeApi(
      "POST",
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
      admin,
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "alice-reads-secrets" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secret-reader" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "alice" }],
      },
    );
    expect(binding.status).toBe(201);

    // The RBAC authorizer sees new bindings through an informer: allow a moment.
    let allowed = 0;
    for (let i = 0; i < 50 && allowed !== 200; i++) {
      allowed = (await kubeApi("GET", secretsPath, alice)).status;
      if (allowed !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(allowed).toBe(200);
    expect((await kubeApi("GET", secretsPath, bob)).status).toBe(403);
    expect((await kubeApi("GET", `/api/v1/namespaces/default/secrets`, alice)).status).toBe(403);
  });

  it("issues ServiceAccount tokens through the TokenRequest API that authenticate", async () => {
    const ns = `sa-${suffix}`;
    expect((await kubectl(["create", "namespace", ns])).code).toBe(0);
    expect((await kubectl(["create", "serviceaccount", "robot", "-n", ns])).code).toBe(0);
    const created = await kubectl(["create", "token", "robot", "-n", ns, "--duration=10m"]);
    expect(created.stderr).toBe("");
    const token = created.stdout.trim();
    expect(token.split(".")).toHaveLength(3);

    const review = await kubeApi("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", token, {
      apiVersion: "authentication.k8s.io/v1",
      kind: "SelfSubjectReview",
    });
    expect(review.status).toBe(201);
    const info = (review.json() as { status: { userInfo: { username: string; groups: string[] } } }).status
      .userInfo;
    expect(info.username).toBe(`system:serviceaccount:${ns}:robot`);
    expect(info.groups).toContain("system:serviceaccounts");

    // Authenticated but without permissions: 403, not 401.
    expect((await kubeApi("GET", `/api/v1/namespaces/${ns}/secrets`, token)).status).toBe(403);

    // The API server validates the token itself (TokenReview) as bound to the live ServiceAccount.
    const tr = await kubeApi(
      "POST",
      "/apis/authentication.k8s.io/v1/tokenreviews",
      env("QCAP_KUBE_ADMIN_TOKEN"),
      {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token },
      },
    );
    expect(tr.status).toBe(201);
    expect((tr.json() as { status: { authenticated: boolean } }).status.authenticated).toBe(true);
  });
});
