/**
 * The action's bundles checked by the standard verifiers, as a release engineer runs them: cosign (built
 * from the Go module proxy by the testenv) and sigstore-python (from PyPI, in the testenv's cache), against
 * the local Fulcio (with its CT log), timestamp authority and Rekor v2 log, with no check switched off
 * except the transparency log in key mode (signed offline). Each accepts good bundles and refuses a changed
 * capsule, a changed statement and a wrong identity. `qcap verify` also accepts a bundle made the way
 * actions/attest-build-provenance makes one, and the provenance compares field for field with GitHub's.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { buildSLSAProvenancePredicate } from "@actions/attest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureSigstorePython } from "../../../testenv/lib/python.mjs";
import {
  type ActionResult,
  testenv as env,
  htmlText,
  qcap,
  REPOSITORY,
  repoRoot,
  type Workspace,
  workspace,
  writeKey,
} from "../helpers.js";
import { type TokenEndpoint, tokenEndpoint } from "./github-oidc.js";

// A release tagged `widget@1.2.3`, sealed by a reusable workflow of another repository.
const TAG = "refs/tags/widget@1.2.3";
const JOB_WORKFLOW = "qcap-org/shared/.github/workflows/seal.yml@refs/heads/main";
const IDENTITY = `https://github.com/${JOB_WORKFLOW}`;
const claims = {
  repository: REPOSITORY,
  ref: TAG,
  workflow_path: ".github/workflows/release.yml",
  job_workflow_ref: JOB_WORKFLOW,
  repository_visibility: "private",
};

let ws: Workspace;
let oidc: TokenEndpoint;
let publisher: ReturnType<typeof writeKey>;
let python: string;
let keyless: { capsule: string; bundle: string; result: ActionResult };
let keyed: { capsule: string; bundle: string; result: ActionResult };

const b64json = (s: string) => JSON.parse(Buffer.from(s, "base64").toString("utf8"));

beforeAll(async () => {
  ws = workspace("qcap-action-verifiers-");
  publisher = writeKey(ws.dir("publisher.key"));
  oidc = await tokenEndpoint(claims);
  python = await ensureSigstorePython();
  const r = await ws.run(
    {
      paths: "dist/**",
      output: "keyless.qcap",
      "fulcio-url": env("QCAP_FULCIO_URL"),
      "tsa-url": env("QCAP_TSA_URL"),
      "rekor-url": env("QCAP_REKOR_URL"),
      "rekor-api-version": "2",
    },
    oidc.env,
  );
  expect(r.errors).toEqual([]);
  keyless = {
    capsule: r.outputs["capsule-path"] as string,
    bundle: r.outputs["attestation-path"] as string,
    result: r,
  };
  // Key mode in a job that may request a token: the provenance still comes from the token's claims.
  const k = await ws.run(
    { paths: "dist/**", output: "keyed.qcap", sigstore: "key", "signing-key": publisher.seed },
    oidc.env,
  );
  expect(k.errors).toEqual([]);
  keyed = {
    capsule: k.outputs["capsule-path"] as string,
    bundle: k.outputs["attestation-path"] as string,
    result: k,
  };

  // The public key as cosign reads it, and a client trust config for sigstore-python.
  const pub = createPublicKeyPem(publisher.publicKey);
  writeFileSync(ws.dir("publisher.pub.pem"), pub);
  writeFileSync(
    ws.dir("trust-config.json"),
    JSON.stringify({
      mediaType: "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
      trustedRoot: JSON.parse(readFileSync(env("QCAP_TRUSTED_ROOT"), "utf8")),
      signingConfig: {
        mediaType: "application/vnd.dev.sigstore.signingconfig.v0.2+json",
        caUrls: [],
        oidcUrls: [],
        rekorTlogUrls: [],
        tsaUrls: [],
        rekorTlogConfig: { selector: "ANY" },
        tsaConfig: { selector: "ANY" },
      },
    }),
  );

  // Tampered copies: another capsule file (one byte changed), and a statement rewritten under the signature.
  const changed = readFileSync(keyless.capsule);
  changed[changed.length - 30] = (changed[changed.length - 30] as number) ^ 1;
  writeFileSync(ws.dir("changed.qcap"), changed);
  for (const [name, path] of [
    ["keyless", keyless.bundle],
    ["keyed", keyed.bundle],
  ] as const) {
    const bundle = JSON.parse(readFileSync(path, "utf8"));
    const statement = b64json(bundle.dsseEnvelope.payload);
    statement.predicate.runDetails.builder.id =
      "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main";
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
    writeFileSync(ws.dir(`${name}-changed-statement.json`), JSON.stringify(bundle));
  }
});
afterAll(async () => {
  await oidc?.close();
  ws?.remove();
});

/** Ed25519 SubjectPublicKeyInfo PEM of a raw 32-byte public key (hex). */
function createPublicKeyPem(hex: string): string {
  const der = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(hex, "hex")]);
  return `-----BEGIN PUBLIC KEY-----\n${der.toString("base64")}\n-----END PUBLIC KEY-----\n`;
}

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    timeout: 120_000,
    // No sigstore TUF lookups or caches outside the workspace: everything comes from the given root.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: ws.dir(), TUF_ROOT: ws.dir("tuf") },
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe("the action's keyless bundle (local Fulcio, timestamp authority and Rekor v2)", () => {
  it("records the signature in Rekor v2 as a hashedrekord over the DSSE pre-authentication encoding", () => {
    const bundle = JSON.parse(readFileSync(keyless.bundle, "utf8"));
    const entries = bundle.verificationMaterial.tlogEntries;
    expect(entries).toHaveLength(1);
    expect(entries[0].kindVersion).toEqual({ kind: "hashedrekord", version: "0.0.2" });
    expect(entries[0].inclusionProof.checkpoint.envelope).toMatch(/^127\.0\.0\.1\n/);
    const body = b64json(entries[0].canonicalizedBody);
    const env_ = bundle.dsseEnvelope;
    const payload = Buffer.from(env_.payload, "base64");
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${env_.payloadType.length} ${env_.payloadType} ${payload.length} `),
      payload,
    ]);
    expect(body.spec.hashedRekordV002.data.digest).toBe(createHash("sha256").update(pae).digest("base64"));
    expect(bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps).toHaveLength(1);
  });

  const cosignKeyless = (target: string, bundle: string, identity = IDENTITY) =>
    run(env("QCAP_COSIGN"), [
      "verify-blob-attestation",
      "--bundle",
      bundle,
      "--new-bundle-format",
      "--trusted-root",
      env("QCAP_TRUSTED_ROOT"),
      "--certificate-identity",
      identity,
      "--certificate-oidc-issuer",
      env("QCAP_OIDC_ISSUER_URL"),
      "--type",
      "slsaprovenance1",
      // Rekor v2 entries carry no integrated time: cosign 2.6 takes the time from the signed timestamp.
      // (The SCT is checked: the local Fulcio logs its certificates in the testenv's CT log.)
      "--use-signed-timestamps",
      target,
    ]);

  it("the job summary shows the cosign command, which works as written given the instance's root", () => {
    const blocks = [
      ...keyless.result.summary.matchAll(/<pre lang="sh"><code>([\s\S]*?)<\/code><\/pre>/g),
    ].map((m) => htmlText(m[1] as string).trim());
    expect(blocks).toHaveLength(2);
    const words = (blocks[1] as string).split(/\s+/);
    expect(words.slice(0, 2)).toEqual(["cosign", "verify-blob-attestation"]);
    expect(words).toContain(IDENTITY);
    // The public-good root is cosign's default; here the local one is named, and Rekor v2 needs the TSA time.
    const target = words.pop() as string;
    const r = spawnSync(
      env("QCAP_COSIGN"),
      [...words.slice(1), "--trusted-root", env("QCAP_TRUSTED_ROOT"), "--use-signed-timestamps", target],
      {
        cwd: dirname(keyless.capsule),
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: ws.dir(), TUF_ROOT: ws.dir("tuf") },
      },
    );
    expect(`${r.stdout}${r.stderr}`).toContain("Verified OK");
    expect(r.status).toBe(0);
  });

  it("cosign accepts it, and refuses a changed capsule, a changed statement and a wrong identity", () => {
    const ok = cosignKeyless(keyless.capsule, keyless.bundle);
    expect(ok.out).toContain("Verified OK");
    expect(ok.code).toBe(0);

    const changed = cosignKeyless(ws.dir("changed.qcap"), keyless.bundle);
    expect(changed.code).not.toBe(0);
    expect(changed.out).toMatch(/artifact digest does not match any digest in statement/);
    const statement = cosignKeyless(keyless.capsule, ws.dir("keyless-changed-statement.json"));
    expect(statement.code).not.toBe(0);
    expect(statement.out).toMatch(/signature|verif/i);
    const identity = cosignKeyless(
      keyless.capsule,
      keyless.bundle,
      "https://github.com/qcap-test/capsule/.github/workflows/release.yml@refs/heads/main",
    );
    expect(identity.code).not.toBe(0);
    expect(identity.out).toMatch(/expected identity not found|certificate identity/i);
  });

  const sigstorePython = (target: string, bundle: string, identity = IDENTITY) =>
    run(python, [
      "-m",
      "sigstore",
      "--trust-config",
      ws.dir("trust-config.json"),
      "verify",
      "identity",
      "--offline",
      "--bundle",
      bundle,
      "--cert-identity",
      identity,
      "--cert-oidc-issuer",
      env("QCAP_OIDC_ISSUER_URL"),
      target,
    ]);

  it("sigstore-python accepts it, and refuses a changed capsule, a changed statement and a wrong identity", () => {
    const ok = sigstorePython(keyless.capsule, keyless.bundle);
    expect(ok.out).toContain(`OK: ${keyless.capsule}`);
    expect(ok.code).toBe(0);

    const changed = sigstorePython(ws.dir("changed.qcap"), keyless.bundle);
    expect(changed.code).not.toBe(0);
    expect(changed.out).toContain("FAIL");
    const statement = sigstorePython(keyless.capsule, ws.dir("keyless-changed-statement.json"));
    expect(statement.code).not.toBe(0);
    expect(statement.out).toContain("FAIL");
    const identity = sigstorePython(
      keyless.capsule,
      keyless.bundle,
      "https://github.com/qcap-test/capsule/.github/workflows/release.yml@refs/heads/main",
    );
    expect(identity.code).not.toBe(0);
    expect(identity.out).toContain("FAIL");
  });

  it("qcap verify accepts it (the Rekor v2 entry included), and refuses the same tampering", () => {
    const args = (target: string, bundle: string, identity = IDENTITY) => [
      "verify",
      target,
      "--attestation",
      bundle,
      "--trusted-root",
      env("QCAP_TRUSTED_ROOT"),
      "--identity",
      identity,
      "--issuer",
      env("QCAP_OIDC_ISSUER_URL"),
    ];
    const ok = qcap([...args(keyless.capsule, keyless.bundle), "--json"]);
    expect(ok.stderr).toBe("");
    expect(JSON.parse(ok.stdout).attestation).toMatchObject({ mode: "keyless", identity: IDENTITY });
    expect(qcap(args(ws.dir("changed.qcap"), keyless.bundle)).code).not.toBe(0);
    // The changed payload no longer matches the log entry (checked first) nor the signature.
    expect(qcap(args(keyless.capsule, ws.dir("keyless-changed-statement.json"))).stderr).toMatch(
      /^qcap: attestation rejected: (digest mismatch|signature verification failed)\n$/,
    );
    expect(qcap(args(keyless.capsule, keyless.bundle, `https://github.com/${REPOSITORY}/x`)).code).toBe(1);
  });
});

describe("the action's key-signed bundle", () => {
  const cosignKey = (target: string, bundle: string, key = ws.dir("publisher.pub.pem")) =>
    run(env("QCAP_COSIGN"), [
      "verify-blob-attestation",
      "--bundle",
      bundle,
      "--new-bundle-format",
      "--trusted-root",
      env("QCAP_TRUSTED_ROOT"),
      "--key",
      key,
      "--type",
      "slsaprovenance1",
      // Signed offline with the publisher's key: no log entry.
      "--insecure-ignore-tlog",
      target,
    ]);

  it("cosign accepts it with the publisher's key, and refuses tampering and another key", () => {
    const ok = cosignKey(keyed.capsule, keyed.bundle);
    expect(ok.out).toContain("Verified OK");
    expect(ok.code).toBe(0);
    expect(cosignKey(keyless.capsule, keyed.bundle).code).not.toBe(0);
    const statement = cosignKey(keyed.capsule, ws.dir("keyed-changed-statement.json"));
    expect(statement.code).not.toBe(0);
    const other = writeKey(ws.dir("other.key"));
    writeFileSync(ws.dir("other.pub.pem"), createPublicKeyPem(other.publicKey));
    const wrong = cosignKey(keyed.capsule, keyed.bundle, ws.dir("other.pub.pem"));
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toMatch(/accepted signatures do not match threshold|signature/);
  });
});

describe("GitHub's own provenance", () => {
  it("the action's predicate equals actions/attest-build-provenance's for the same token, field for field", async () => {
    const statement = b64json(JSON.parse(readFileSync(keyless.bundle, "utf8")).dsseEnvelope.payload);
    const reference = await withEnv({ ...oidc.env, GITHUB_SERVER_URL: "https://github.com" }, () =>
      buildSLSAProvenancePredicate(env("QCAP_OIDC_ISSUER_URL")),
    );
    expect(reference.type).toBe(statement.predicateType);
    expect(statement.predicate).toEqual(reference.params);
    // The reusable workflow is the builder, and the tag's `@` stays in the ref, not in the path.
    expect(statement.predicate.runDetails.builder.id).toBe(IDENTITY);
    expect(statement.predicate.buildDefinition.externalParameters.workflow).toEqual({
      ref: TAG,
      repository: `https://github.com/${REPOSITORY}`,
      path: ".github/workflows/release.yml",
    });
    // The documented difference: one subject annotation (the Merkle root), which verifiers ignore.
    const { annotations, ...subject } = statement.subject[0];
    expect(annotations).toEqual({ qcapRoot: keyless.result.outputs["merkle-root"] });
    expect(subject).toEqual({
      name: "keyless.qcap",
      digest: { sha256: keyless.result.outputs.digest?.slice(7) },
    });
  });

  it("in key mode with an ID token at hand, the predicate is GitHub's too (token asked for audience nobody)", async () => {
    expect(oidc.requests).toContainEqual({ audience: "nobody", authorized: true });
    expect(keyed.result.stdout).not.toContain("no OIDC token");
    const statement = b64json(JSON.parse(readFileSync(keyed.bundle, "utf8")).dsseEnvelope.payload);
    const reference = await withEnv({ ...oidc.env, GITHUB_SERVER_URL: "https://github.com" }, () =>
      buildSLSAProvenancePredicate(env("QCAP_OIDC_ISSUER_URL")),
    );
    expect(statement.predicate).toEqual(reference.params);
  });

  it("qcap verify accepts a bundle made by actions/attest's own signing code", async () => {
    // @actions/attest routes its signing only to GitHub's or the public-good hosts, so its steps are
    // replayed here against the local services with its own copy of @sigstore/sign (lib/sign.js:
    // FulcioSigner over the CI identity provider, a TSA witness, DSSEBundleBuilder), its own predicate and
    // its statement shape (lib/intoto.js).
    const attestRequire = createRequire(
      join(repoRoot, "node_modules", "@actions", "attest", "lib", "index.js"),
    );
    expect(attestRequire("@sigstore/sign/package.json").version).toMatch(/^3\./);
    const sign = attestRequire("@sigstore/sign") as typeof import("@sigstore/sign");
    const { bundleToJSON } = attestRequire("@sigstore/bundle") as typeof import("@sigstore/bundle");
    const sha256 = createHash("sha256").update(readFileSync(keyed.capsule)).digest("hex");
    const bundle = await withEnv({ ...oidc.env, GITHUB_SERVER_URL: "https://github.com" }, async () => {
      const predicate = await buildSLSAProvenancePredicate(env("QCAP_OIDC_ISSUER_URL"));
      const statement = {
        _type: "https://in-toto.io/Statement/v1",
        subject: [{ name: "keyed.qcap", digest: { sha256 } }],
        predicateType: predicate.type,
        predicate: predicate.params,
      };
      const builder = new sign.DSSEBundleBuilder({
        signer: new sign.FulcioSigner({
          identityProvider: new sign.CIContextProvider("sigstore"),
          fulcioBaseURL: env("QCAP_FULCIO_URL"),
        }),
        witnesses: [new sign.TSAWitness({ tsaBaseURL: env("QCAP_TSA_URL") })],
      });
      return bundleToJSON(
        await builder.create({
          data: Buffer.from(JSON.stringify(statement)),
          type: "application/vnd.in-toto+json",
        }),
      );
    });
    writeFileSync(ws.dir("actions-attest.json"), JSON.stringify(bundle));
    copyFileSync(env("QCAP_TRUSTED_ROOT"), ws.dir("trusted_root.json"));
    const v = qcap([
      "verify",
      keyed.capsule,
      "--trust",
      publisher.publicKey,
      "--attestation",
      ws.dir("actions-attest.json"),
      "--trusted-root",
      ws.dir("trusted_root.json"),
      "--identity",
      IDENTITY,
      "--issuer",
      env("QCAP_OIDC_ISSUER_URL"),
      "--json",
    ]);
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout).attestation).toMatchObject({ mode: "keyless", identity: IDENTITY });
    // Its subject names the file by sha256 alone: another capsule is refused.
    const other = qcap([
      "verify",
      keyless.capsule,
      "--attestation",
      ws.dir("actions-attest.json"),
      "--trusted-root",
      ws.dir("trusted_root.json"),
      "--identity",
      IDENTITY,
      "--issuer",
      env("QCAP_OIDC_ISSUER_URL"),
    ]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^qcap: attestation is for a different capsule/);
  });
});

/** Runs `f` with variables set in this process (the library reads them from process.env). */
async function withEnv<T>(vars: Record<string, string>, f: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await f();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
