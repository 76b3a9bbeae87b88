/** `qcap verify --attestation` with key-signed bundles (keyless ones are covered by the action's e2e suite). */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildStatement,
  githubProvenance,
  githubRunFromEnv,
  signStatement,
} from "../src/attest/index-node.js";
import type { SigningKey } from "../src/capsule/pack.js";
import { generateKeyFile, loadKeyMaterial, serializeKeyFile } from "../src/keys/keyfile.js";
import { qcap, tempDir } from "./helpers.js";

const tmp = tempDir();
const dir = (...p: string[]) => join(tmp.path, ...p);
const run = githubRunFromEnv({
  GITHUB_REPOSITORY: "qcap-org/capsules",
  GITHUB_REF: "refs/heads/main",
  GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
  GITHUB_WORKFLOW_REF: "qcap-org/capsules/.github/workflows/release.yml@refs/heads/main",
  GITHUB_RUN_ID: "1",
});

/** Packs a folder with the CLI, then attests the capsule with `key` (the issuer's key unless told). */
async function attested(name: string, keyFile: string, attestKeyFile = keyFile) {
  const capsule = dir(`${name}.qcap`);
  expect(qcap(["pack", dir("src"), "-o", capsule, "--sign-key", keyFile]).code).toBe(0);
  const bytes = readFileSync(capsule);
  const root = JSON.parse(qcap(["inspect", capsule, "--json"]).stdout).root as string;
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const signingKey = loadKeyMaterial(readFileSync(attestKeyFile, "utf8")).signing as SigningKey;
  const bundle = await signStatement(
    buildStatement({ name: basename(capsule), sha256, root }, githubProvenance(run)),
    { mode: "key", signingKey },
  );
  const bundlePath = `${capsule}.sigstore.json`;
  writeFileSync(bundlePath, JSON.stringify(bundle));
  return { capsule, bundlePath, sha256, root };
}

beforeAll(() => {
  mkdirSync(dir("src"), { recursive: true });
  writeFileSync(dir("src", "a.txt"), "build output\n");
  for (const name of ["me.key", "other.key"])
    writeFileSync(dir(name), serializeKeyFile(generateKeyFile()), { mode: 0o600 });
});
afterAll(() => tmp.remove());

describe("qcap verify --attestation (key-signed)", () => {
  it("verifies the bundle with the pinned issuer key and reports it", async () => {
    const a = await attested("ok", dir("me.key"));
    const r = qcap(["verify", a.capsule, "--attestation", a.bundlePath, "--trust", dir("me.key"), "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.attestation).toMatchObject({ mode: "key", sha256: a.sha256 });
    const human = qcap(["verify", a.capsule, "--attestation", a.bundlePath]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/attestation OK: signed by key [0-9a-f]{64}, sha256 [0-9a-f]{64}/);
  });

  it("rejects a bundle signed by another key, for another capsule, or tampered with (exit 1)", async () => {
    const a = await attested("other-signer", dir("me.key"), dir("other.key"));
    let r = qcap(["verify", a.capsule, "--attestation", a.bundlePath]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qcap: the attestation is signed by key [0-9a-f]{64}, which is not trusted\n$/);

    const one = await attested("one", dir("me.key"));
    writeFileSync(dir("src", "a.txt"), "another build\n");
    const two = await attested("two", dir("me.key"));
    r = qcap(["verify", two.capsule, "--attestation", one.bundlePath]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qcap: attestation is for a different capsule/);

    const bundle = JSON.parse(readFileSync(one.bundlePath, "utf8"));
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8"));
    statement.subject[0].digest = { sha256: two.sha256 };
    statement.subject[0].annotations = { qcapRoot: two.root };
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
    writeFileSync(dir("forged.json"), JSON.stringify(bundle));
    r = qcap(["verify", two.capsule, "--attestation", dir("forged.json")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("qcap: attestation rejected: signature verification failed\n");
  });

  it("refuses options that need --attestation or do not apply, and unreadable files (exit 2)", async () => {
    const a = await attested("usage", dir("me.key"));
    let r = qcap(["verify", a.capsule, "--identity", "https://github.com/x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/need --attestation BUNDLE/);
    r = qcap(["verify", a.capsule, "--attestation", a.bundlePath, "--identity", "x", "--issuer", "y"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/signed with a key, not a certificate/);
    r = qcap(["verify", a.capsule, "--attestation", dir("missing.json")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read attestation bundle .*missing\.json: no such file/);
    writeFileSync(dir("junk.json"), "{not json");
    r = qcap(["verify", a.capsule, "--attestation", dir("junk.json")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not JSON/);
    expect(qcap(["verify", "--help"]).stdout).toMatch(/--trusted-root <file>/);
  });
});
