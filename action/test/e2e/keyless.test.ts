/**
 * Keyless attestation against the real local Fulcio and timestamp authority of the test control plane,
 * with ID tokens shaped like GitHub's from its OIDC issuer, verified offline with its trusted root.
 */
import { X509Certificate } from "node:crypto";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ActionResult,
  testenv as env,
  qcap,
  REF,
  REPOSITORY,
  summaryCommand,
  visibleLog,
  WORKFLOW_PATH,
  type Workspace,
  workspace,
  writeKey,
} from "../helpers.js";
import { type TokenEndpoint, tokenEndpoint } from "./github-oidc.js";

const IDENTITY = `https://github.com/${REPOSITORY}/${WORKFLOW_PATH}@${REF}`;

let ws: Workspace;
let oidc: TokenEndpoint;
let publisher: ReturnType<typeof writeKey>;
let reader: ReturnType<typeof writeKey>;

/** The testenv's token claims follow the workflow the action reports (GitHub's would). */
const claims = { repository: REPOSITORY, ref: REF, workflow_path: WORKFLOW_PATH };

const sigstoreInputs = () => ({ "fulcio-url": env("QCAP_FULCIO_URL"), "tsa-url": env("QCAP_TSA_URL") });

beforeAll(async () => {
  ws = workspace("qcap-action-keyless-");
  publisher = writeKey(ws.dir("publisher.key"));
  reader = writeKey(ws.dir("reader.key"));
  oidc = await tokenEndpoint(claims);
});
afterAll(async () => {
  await oidc?.close();
  ws?.remove();
});

describe("keyless attestation", () => {
  let r: ActionResult;
  let capsule: string;
  let bundlePath: string;
  beforeAll(async () => {
    r = await ws.run(
      {
        paths: "dist/**",
        name: "release",
        "signing-key": readFileSync(ws.dir("publisher.key"), "utf8"),
        recipients: reader.recipient,
        output: "out/release.qcap",
        ...sigstoreInputs(),
      },
      oidc.env,
    );
    capsule = r.outputs["capsule-path"] as string;
    bundlePath = r.outputs["attestation-path"] as string;
  });

  it("gets a Fulcio certificate for the workflow identity and a TSA timestamp, in a v0.3 bundle", () => {
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(capsule).toBe(ws.dir("ws", "out", "release.qcap"));
    expect(bundlePath).toBe(`${capsule}.sigstore.json`);
    // The token was asked for with GitHub's request token, for the sigstore audience.
    expect(oidc.requests.at(-1)).toEqual({ audience: "sigstore", authorized: true });

    const bundle = JSON.parse(readFileSync(bundlePath, "utf8"));
    expect(bundle.mediaType).toBe("application/vnd.dev.sigstore.bundle.v0.3+json");
    const vm = bundle.verificationMaterial;
    expect(vm.tlogEntries ?? []).toEqual([]);
    expect(vm.timestampVerificationData.rfc3161Timestamps).toHaveLength(1);
    const cert = new X509Certificate(Buffer.from(vm.certificate.rawBytes, "base64"));
    expect(cert.subjectAltName).toBe(`URI:${IDENTITY}`);
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8"));
    expect(statement.subject[0]).toEqual({
      name: "release.qcap",
      digest: { sha256: (r.outputs.digest as string).slice(7) },
      annotations: { qcapRoot: r.outputs["merkle-root"] },
    });
    expect(statement.predicate.runDetails.builder.id).toBe(IDENTITY);
  });

  it("never shows the ID token or the request token in the log", () => {
    const token = oidc.tokens.at(-1) as string;
    expect(token).toMatch(/^ey/);
    expect(visibleLog(r)).not.toContain(token);
    expect(visibleLog(r)).not.toContain(token.split(".")[2] as string);
    expect(visibleLog(r)).not.toContain(oidc.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
    expect(r.summary).not.toContain(token);
    expect(r.stdout).toContain(`::add-mask::${token}`);
  });

  it("qcap verify accepts it offline with the trusted root, the identity and the issuer from the summary", () => {
    expect(r.summary).toContain(`<code>${IDENTITY}</code>`);
    expect(r.summary).toContain(`issuer <code>${env("QCAP_OIDC_ISSUER_URL")}</code>`);
    const words = summaryCommand(r.summary);
    expect(words).toEqual([
      "qcap",
      "verify",
      "release.qcap",
      "--trust",
      publisher.publicKey,
      "--attestation",
      "release.qcap.sigstore.json",
      "--trusted-root",
      "trusted_root.json",
      "--identity",
      IDENTITY,
      "--issuer",
      env("QCAP_OIDC_ISSUER_URL"),
    ]);
    copyFileSync(env("QCAP_TRUSTED_ROOT"), ws.dir("ws", "out", "trusted_root.json"));
    const v = qcap([...words.slice(1), "--json"], dirname(capsule));
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    const attestation = JSON.parse(v.stdout).attestation;
    expect(attestation).toMatchObject({
      mode: "keyless",
      identity: IDENTITY,
      issuer: env("QCAP_OIDC_ISSUER_URL"),
    });
    expect(attestation.timestamps).toHaveLength(1);
    expect(Math.abs(Date.parse(attestation.timestamps[0]) - Date.now())).toBeLessThan(10 * 60_000);
  });

  const verify = (args: string[], bundle = bundlePath, target = capsule) =>
    qcap(["verify", target, "--attestation", bundle, ...args]);
  const keyless = (
    identity = IDENTITY,
    issuer = env("QCAP_OIDC_ISSUER_URL"),
    root = env("QCAP_TRUSTED_ROOT"),
  ) => ["--trusted-root", root, "--identity", identity, "--issuer", issuer];

  it("a wrong identity or issuer is rejected (exit 1)", () => {
    let v = verify(keyless(`https://github.com/${REPOSITORY}/${WORKFLOW_PATH}@refs/heads/evil`));
    expect(v.code).toBe(1);
    expect(v.stderr).toBe(
      `qcap: attestation rejected: certificate identity error - expected https://github.com/${REPOSITORY}/${WORKFLOW_PATH}@refs/heads/evil, got ${IDENTITY}\n`,
    );
    v = verify(keyless(`https://github.com/someone/else/${WORKFLOW_PATH}@${REF}`));
    expect(v.code).toBe(1);
    v = verify(keyless(IDENTITY, "https://token.actions.githubusercontent.com"));
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^qcap: attestation rejected: invalid certificate extension - expected issuer=/);
  });

  it("a tampered bundle, another capsule and an untrusted root are rejected (exit 1)", () => {
    const bundle = JSON.parse(readFileSync(bundlePath, "utf8"));
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8"));
    statement.predicate.runDetails.builder.id =
      "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main";
    const tampered = {
      ...bundle,
      dsseEnvelope: {
        ...bundle.dsseEnvelope,
        payload: Buffer.from(JSON.stringify(statement)).toString("base64"),
      },
    };
    writeFileSync(ws.dir("tampered.json"), JSON.stringify(tampered));
    let v = verify(keyless(), ws.dir("tampered.json"));
    expect(v.code).toBe(1);
    expect(v.stderr).toBe("qcap: attestation rejected: signature verification failed\n");

    // Another capsule with the same files (a re-run seals to fresh keys).
    expect(
      qcap(["pack", ws.dir("ws", "dist"), "-o", ws.dir("other.qcap"), "--sign-key", ws.dir("publisher.key")])
        .code,
    ).toBe(0);
    v = verify(keyless(), bundlePath, ws.dir("other.qcap"));
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^qcap: attestation is for a different capsule/);

    // A root without the TSA, or without the Fulcio CA, does not vouch for the bundle.
    const root = JSON.parse(readFileSync(env("QCAP_TRUSTED_ROOT"), "utf8"));
    writeFileSync(ws.dir("no-tsa.json"), JSON.stringify({ ...root, timestampAuthorities: [] }));
    v = verify(keyless(IDENTITY, env("QCAP_OIDC_ISSUER_URL"), ws.dir("no-tsa.json")));
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^qcap: attestation rejected: /);
    writeFileSync(ws.dir("no-ca.json"), JSON.stringify({ ...root, certificateAuthorities: [] }));
    v = verify(keyless(IDENTITY, env("QCAP_OIDC_ISSUER_URL"), ws.dir("no-ca.json")));
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^qcap: attestation rejected: /);

    v = verify(["--identity", IDENTITY, "--issuer", env("QCAP_OIDC_ISSUER_URL")]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/needs --trusted-root FILE/);
    v = verify(["--trusted-root", env("QCAP_TRUSTED_ROOT")]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/needs the expected --identity and --issuer/);
  });
});

describe("keyless variants and failures", () => {
  it("without a signing key, the attestation vouches for a one-time issuer key", async () => {
    const r = await ws.run(
      { paths: "dist/README.txt", output: "onetime.qcap", ...sigstoreInputs() },
      oidc.env,
    );
    expect(r.errors).toEqual([]);
    expect(r.summary).toContain("one-time key; trust comes from the attestation");
    const words = summaryCommand(r.summary);
    expect(words).not.toContain("--trust");
    copyFileSync(env("QCAP_TRUSTED_ROOT"), ws.dir("ws", "trusted_root.json"));
    const v = qcap(words.slice(1), ws.dir("ws"));
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
  });

  it("an unreachable Fulcio fails the step with a clear message", async () => {
    const port = await closedPort();
    const r = await ws.run(
      {
        paths: "dist/README.txt",
        "signing-key": publisher.seed,
        output: "nofulcio.qcap",
        ...sigstoreInputs(),
        "fulcio-url": `http://127.0.0.1:${port}`,
      },
      oidc.env,
    );
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(
      new RegExp(
        `^signing with Fulcio at http://127\\.0\\.0\\.1:${port} failed: error creating signing certificate: .*ECONNREFUSED`,
      ),
    );
    // Sealed before attesting: the capsule (signed with a key already used) is removed, no output is set.
    expect(r.outputs).toEqual({});
    expect(existsSync(ws.dir("ws", "nofulcio.qcap"))).toBe(false);
    expect(existsSync(ws.dir("ws", "nofulcio.qcap.sigstore.json"))).toBe(false);
  });

  it("an unreachable timestamp authority fails the step with a clear message", async () => {
    const port = await closedPort();
    const r = await ws.run(
      {
        paths: "dist/README.txt",
        "signing-key": publisher.seed,
        output: "notsa.qcap",
        ...sigstoreInputs(),
        "tsa-url": `http://127.0.0.1:${port}`,
      },
      oidc.env,
    );
    expect(r.code).toBe(1);
    expect(r.errors[0]).toMatch(
      new RegExp(
        `^signing with the timestamp authority at http://127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED`,
      ),
    );
  });

  it("an unreachable Rekor v2 log fails the step with a clear message, leaving nothing behind", async () => {
    const port = await closedPort();
    const r = await ws.run(
      {
        paths: "dist/README.txt",
        "signing-key": publisher.seed,
        output: "norekor.qcap",
        ...sigstoreInputs(),
        "rekor-url": `http://127.0.0.1:${port}`,
        "rekor-api-version": "2",
      },
      oidc.env,
    );
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(
      new RegExp(`^signing with Rekor at http://127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED`),
    );
    expect(r.outputs).toEqual({});
    expect(existsSync(ws.dir("ws", "norekor.qcap"))).toBe(false);
  });

  it("a refused token request fails the step with a clear message", async () => {
    const r = await ws.run(
      {
        paths: "dist/README.txt",
        "signing-key": publisher.seed,
        output: "badtoken.qcap",
        ...sigstoreInputs(),
      },
      { ...oidc.env, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "not-the-token" },
    );
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^cannot get the workflow's OIDC token: .*401/);
    expect(oidc.requests.at(-1)).toEqual({ audience: "sigstore", authorized: false });
  });
});

/** A port on 127.0.0.1 where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
