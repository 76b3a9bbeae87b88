// The tenancy decisions with a fake access check: what is asked, and what is refused with which reason.
import { describe, expect, it } from "vitest";
import type { CapsuleSource } from "../../src/api/capsule.js";
import { parseDuration } from "../../src/duration.js";
import { type KubeClient, KubeError } from "../../src/kube/client.js";
import { ReconcileError } from "../../src/kube/conditions.js";
import { type AccessAttributes, actingServiceAccount, selfAccessCheck } from "../../src/tenancy/access.js";
import {
  authorizeGrant,
  authorizePublisherUse,
  checkGrantPolicy,
  checkSourcePolicy,
  httpHostAllowed,
  publisherRefOf,
  s3Allowed,
} from "../../src/tenancy/policy.js";

/** An access check that records the questions and allows only what `allowed` lists. */
function fakeCheck(allowed: string[]) {
  const asked: AccessAttributes[] = [];
  const key = (a: AccessAttributes) => `${a.verb} ${a.resource} ${a.namespace ?? "-"}/${a.name ?? "-"}`;
  const check = async (a: AccessAttributes) => {
    asked.push(a);
    return allowed.includes(key(a));
  };
  return { check, asked };
}

async function refusal(p: Promise<unknown>): Promise<ReconcileError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ReconcileError);
  return err as ReconcileError;
}

describe("publisher use", () => {
  it("asks for the verb use on the namespaced Publisher, by name", async () => {
    const f = fakeCheck(["use publishers t/pub"]);
    await authorizePublisherUse(f.check, "sa", publisherRefOf({ publisherRef: { name: "pub" } }), "t");
    expect(f.asked).toEqual([
      { verb: "use", group: "qcap.dev", resource: "publishers", namespace: "t", name: "pub" },
    ]);
  });

  it("asks about a ClusterPublisher without a namespace", async () => {
    const f = fakeCheck(["use clusterpublishers -/shared"]);
    await authorizePublisherUse(
      f.check,
      "sa",
      publisherRefOf({ publisherRef: { kind: "ClusterPublisher", name: "shared" } }),
      "t",
    );
    expect(f.asked[0]).toEqual({
      verb: "use",
      group: "qcap.dev",
      resource: "clusterpublishers",
      name: "shared",
    });
  });

  it("refuses with a permanent Forbidden naming who and what, not a Publisher of another namespace", async () => {
    const f = fakeCheck(["use publishers other/pub"]);
    const e = await refusal(
      authorizePublisherUse(f.check, 'ServiceAccount "t/qcap"', { kind: "Publisher", name: "pub" }, "t"),
    );
    expect(e.reason).toBe("Forbidden");
    expect(e.permanent).toBe(true);
    expect(e.message).toBe(
      'ServiceAccount "t/qcap" may not use Publisher "t/pub" (needs the verb use on publishers.qcap.dev)',
    );
  });
});

describe("grants", () => {
  it("needs the verb grant on that Capsule", async () => {
    const f = fakeCheck(["grant capsules t/survey"]);
    await authorizeGrant(f.check, "sa", "t", "survey");
    const e = await refusal(authorizeGrant(f.check, "sa", "t", "board-minutes"));
    expect(e.reason).toBe("Forbidden");
    expect(f.asked.map((a) => a.name)).toEqual(["survey", "board-minutes"]);
  });
});

describe("acting ServiceAccount", () => {
  it("is the object's own, else the default, always in the object's namespace", () => {
    const obj = (sa?: string) => ({ metadata: { namespace: "t" }, spec: { serviceAccountName: sa } });
    expect(actingServiceAccount(obj("builder"), "qcap").user).toBe("system:serviceaccount:t:builder");
    expect(actingServiceAccount(obj(), "qcap").user).toBe("system:serviceaccount:t:qcap");
  });
});

describe("source policy", () => {
  const s3 = (bucket: string, key: string): CapsuleSource => ({
    s3: { endpoint: "https://s3.example.com", bucket, key, credentialsSecretRef: { name: "c" } },
  });
  const policy = {
    allowedKinds: ["configMap", "s3"] as ("configMap" | "s3")[],
    s3: [{ endpoint: "https://s3.example.com/", bucket: "tenant-a", prefix: "data" }],
  };

  it("allows the default kinds when the publisher says nothing, and no s3 or http", () => {
    expect(() =>
      checkSourcePolicy(undefined, [{ inline: { a: "b" } }, { secret: { name: "s" } }], "P"),
    ).not.toThrow();
    for (const src of [
      s3("tenant-a", "data/x"),
      { http: { url: "https://example.org/a", sha256: "0".repeat(64) } },
    ]) {
      let e: unknown;
      try {
        checkSourcePolicy(undefined, [src], "P");
      } catch (err) {
        e = err;
      }
      expect((e as ReconcileError).reason).toBe("SourceNotAllowed");
    }
  });

  it("refuses a kind the publisher does not list, naming the source's index", () => {
    expect(() =>
      checkSourcePolicy(policy, [{ configMap: { name: "c" } }, { inline: { a: "b" } }], "P"),
    ).toThrow("sources[1]: P does not allow inline sources (allowed: configMap, s3)");
  });

  it("allows s3 only at a listed endpoint and bucket, inside the listed prefix by path segment", () => {
    expect(s3Allowed(policy, s3("tenant-a", "data/x.csv").s3 as never)).toBe(true);
    expect(s3Allowed(policy, s3("tenant-a", "data").s3 as never)).toBe(true);
    expect(s3Allowed(policy, s3("tenant-a", "database/x").s3 as never)).toBe(false);
    expect(s3Allowed(policy, s3("tenant-b", "data/x").s3 as never)).toBe(false);
    const elsewhere = { ...(s3("tenant-a", "data/x").s3 as object), endpoint: "https://evil.example.com" };
    expect(s3Allowed(policy, elsewhere as never)).toBe(false);
    expect(() => checkSourcePolicy(policy, [s3("tenant-b", "secret.txt")], "P")).toThrow(
      "does not allow reading s3://tenant-b/secret.txt at https://s3.example.com",
    );
  });

  it("allows http sources only from listed hosts (exact, or subdomains of a *.domain entry)", () => {
    const hosts = {
      allowedKinds: ["http"] as "http"[],
      http: { allowedHosts: ["data.example.org", "*.cdn.example.net"] },
    };
    expect(httpHostAllowed(hosts, "https://data.example.org/a.csv")).toBe(true);
    expect(httpHostAllowed(hosts, "https://DATA.example.org./a.csv")).toBe(true);
    expect(httpHostAllowed(hosts, "https://eu.cdn.example.net/a")).toBe(true);
    expect(httpHostAllowed(hosts, "https://cdn.example.net/a")).toBe(false);
    expect(httpHostAllowed(hosts, "https://evilcdn.example.net/a")).toBe(false);
    expect(httpHostAllowed(hosts, "https://data.example.org.evil.com/a")).toBe(false);
    expect(httpHostAllowed(hosts, "http://127.0.0.1/latest/meta-data")).toBe(false);
    expect(httpHostAllowed({ allowedKinds: ["http"] }, "https://data.example.org/a")).toBe(false);
    expect(() =>
      checkSourcePolicy(hosts, [{ http: { url: "http://127.0.0.1:8080/x", sha256: "0".repeat(64) } }], "P"),
    ).toThrow("sources[0]: P does not allow fetching from 127.0.0.1:8080");
  });
});

describe("grant policy of a Capsule", () => {
  const A = `age1${"q".repeat(58)}`;
  const B = `age1${"p".repeat(58)}`;
  const policy = { audiences: [A], maxDuration: "24h", paths: ["counts/**"] };
  const check = (g: { audience: string; paths?: string[]; lifetimeMs: number }) => () =>
    checkGrantPolicy(policy, g, "survey", parseDuration);

  it("allows what it lists, with or without the payload/ prefix", () => {
    expect(check({ audience: A, paths: ["counts/**"], lifetimeMs: 3_600_000 })).not.toThrow();
    expect(check({ audience: A, paths: ["payload/counts/**"], lifetimeMs: 86_400_000 })).not.toThrow();
    expect(() =>
      checkGrantPolicy(undefined, { audience: B, lifetimeMs: 1e12 }, "s", parseDuration),
    ).not.toThrow();
  });

  it("refuses another audience, a longer lifetime, another path or all paths", () => {
    expect(check({ audience: B, paths: ["counts/**"], lifetimeMs: 1 })).toThrow(
      "does not list this audience",
    );
    expect(check({ audience: A, paths: ["counts/**"], lifetimeMs: 86_400_001 })).toThrow("at most 24h");
    expect(check({ audience: A, paths: ["**"], lifetimeMs: 1 })).toThrow('does not allow the path "**"');
    expect(check({ audience: A, lifetimeMs: 1 })).toThrow("does not allow a grant for all paths");
  });
});

describe("access reviews as the ServiceAccount", () => {
  const kube = (create: (path: string, body: unknown) => Promise<unknown>) =>
    ({ impersonating: "system:serviceaccount:t:builder", create }) as unknown as KubeClient;

  it("asks the API server with a SelfSubjectAccessReview and reads its answer", async () => {
    const bodies: unknown[] = [];
    const check = selfAccessCheck(
      kube(async (path, body) => {
        expect(path).toBe("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
        bodies.push(body);
        return { status: { allowed: true } };
      }),
    );
    expect(
      await check({ verb: "use", group: "qcap.dev", resource: "publishers", namespace: "t", name: "p" }),
    ).toBe(true);
    expect(bodies[0]).toMatchObject({
      kind: "SelfSubjectAccessReview",
      spec: {
        resourceAttributes: {
          verb: "use",
          group: "qcap.dev",
          resource: "publishers",
          namespace: "t",
          name: "p",
        },
      },
    });
    const denied = selfAccessCheck(kube(async () => ({ status: { allowed: true, denied: true } })));
    expect(await denied({ verb: "use", group: "qcap.dev", resource: "publishers" })).toBe(false);
  });

  it("a refused impersonation is a permanent Forbidden that names the account", async () => {
    const check = selfAccessCheck(
      kube(async () => {
        throw new KubeError(403, "Forbidden", "cannot impersonate");
      }),
    );
    const e = await refusal(check({ verb: "use", group: "qcap.dev", resource: "publishers" }));
    expect(e.reason).toBe("Forbidden");
    expect(e.permanent).toBe(true);
    expect(e.message).toBe(
      "the operator may not act as system:serviceaccount:t:builder (impersonate on serviceaccounts)",
    );
  });
});
