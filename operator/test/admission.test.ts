// The API server itself rejects invalid specs at admission (structural schema and CEL rules), with no
// webhook; valid examples pass a server-side dry run; printer columns and short names work.
import { beforeAll, describe, expect, it } from "vitest";
import { example, installCrds, kubectl, newNamespace } from "./support.ts";

let ns: string;
beforeAll(async () => {
  await installCrds();
  ns = await newNamespace("admission");
});

const base = {
  apiVersion: "qcap.dev/v1alpha1",
  kind: "Capsule",
  metadata: { name: "x" },
  spec: {
    publisherRef: { name: "p" },
    sources: [{ inline: { "a.txt": "a" } }],
  },
};
type Spec = Record<string, unknown>;
const capsule = (spec: Spec) => ({ ...base, spec: { ...base.spec, ...spec } });
const grant = (spec: Spec) => ({
  apiVersion: "qcap.dev/v1alpha1",
  kind: "CapabilityGrant",
  metadata: { name: "g" },
  spec: {
    capsuleRef: { name: "x" },
    audience: "age1smw4pm2kxqzka9zqh8v60e6lvatt943q6ug49qcxz9rkgalgg9equh03k3",
    secretName: "g-grant",
    ...spec,
  },
});

async function create(obj: unknown) {
  return kubectl(["-n", ns, "create", "--dry-run=server", "-f", "-"], JSON.stringify(obj));
}

describe("admission", () => {
  it("accepts a valid Capsule and the examples as written", async () => {
    expect((await create(capsule({}))).code).toBe(0);
    for (const file of ["publisher.yaml", "capsule.yaml", "grant.yaml"]) {
      const r = await kubectl(["-n", ns, "apply", "--dry-run=server", "-f", "-"], example(file));
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
  });

  const rejected: [string, unknown, RegExp][] = [
    [
      "an inline destination (the publisher alone holds it)",
      capsule({ destination: { endpoint: "https://attacker.example", bucket: "qcap-public" } }),
      /unknown field "spec.destination"/,
    ],
    [
      "an author-set allowSecretSources (publisher policy decides)",
      capsule({ allowSecretSources: true }),
      /unknown field "spec.allowSecretSources"/,
    ],
    [
      "an S3 source without its own credentials (never the destination's)",
      capsule({ sources: [{ s3: { endpoint: "https://s3.example.com", bucket: "abc", key: "k" } }] }),
      /credentialsSecretRef: Required value/,
    ],
    [
      "an unknown publisher kind",
      capsule({ publisherRef: { kind: "Issuer", name: "p" } }),
      /Unsupported value: "Issuer"/,
    ],
    [
      "two source kinds in one source",
      capsule({ sources: [{ inline: { a: "b" }, configMap: { name: "c" } }] }),
      /set exactly one of configMap, secret, inline, s3, http/,
    ],
    [
      "an HTTP source not pinned by digest",
      capsule({ sources: [{ http: { url: "https://example.org/a" } }] }),
      /sha256: Required value/,
    ],
    ["a malformed recipient", capsule({ recipients: [{ key: "age1notakey" }] }), /spec.recipients\[0\].key/],
    ["an unknown deletion policy", capsule({ deletionPolicy: "Orphan" }), /Unsupported value: "Orphan"/],
    ["a bad interval", capsule({ interval: "ten minutes" }), /spec.interval/],
    ["hideNames without recipients", capsule({ hideNames: true }), /hideNames needs at least one recipient/],
    [
      "an S3 source with both key and prefix",
      capsule({
        sources: [
          {
            s3: {
              endpoint: "https://s3.example.com",
              bucket: "abc",
              key: "k",
              prefix: "p",
              credentialsSecretRef: { name: "c" },
            },
          },
        ],
      }),
      /exactly one of key and prefix/,
    ],
    [
      "a missing publisherRef",
      { ...base, spec: { ...base.spec, publisherRef: undefined } },
      /spec.publisherRef: Required value/,
    ],
    [
      "a grant with duration and expiresAt",
      grant({ duration: "1h", expiresAt: "2030-01-01T00:00:00Z" }),
      /at most one of duration and expiresAt/,
    ],
    ["a grant for a malformed audience", grant({ audience: "AGE-SECRET-KEY-1XYZ" }), /spec.audience/],
  ];
  for (const [what, obj, message] of rejected) {
    it(`rejects ${what}`, async () => {
      const r = await create(obj);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
    });
  }

  it("a revoked grant cannot be un-revoked (transition rule)", async () => {
    const g = grant({ revoked: true });
    expect((await kubectl(["-n", ns, "create", "-f", "-"], JSON.stringify(g))).code).toBe(0);
    const r = await kubectl([
      "-n",
      ns,
      "patch",
      "capabilitygrant",
      "g",
      "--type=merge",
      "-p",
      '{"spec":{"revoked":false}}',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/a revoked grant cannot be un-revoked/);
  });

  it("short names and printer columns", async () => {
    expect((await kubectl(["-n", ns, "create", "-f", "-"], JSON.stringify(capsule({})))).code).toBe(0);
    const r = await kubectl(["-n", ns, "get", "qcap", "-o", "wide"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/NAME\s+READY\s+REASON\s+ROOT\s+SIZE\s+URL\s+MESSAGE\s+AGE/);
    const g = await kubectl(["-n", ns, "get", "qgrant"]);
    expect(g.stdout.split("\n")[0]).toMatch(/NAME\s+READY\s+REASON\s+CAPSULE\s+EXPIRES\s+AGE/);
  });
});
