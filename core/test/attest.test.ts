import { createHash, createPublicKey, verify as nodeVerify } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  buildStatement,
  githubProvenance,
  githubRunFromClaims,
  githubRunFromEnv,
  idTokenClaims,
  sha256Source,
  signStatement,
  verifyAttestation,
} from "../src/attest/index-node.js";
import { keyHint } from "../src/attest/sign-node.js";
import { ROOT_ANNOTATION } from "../src/attest/statement.js";
import { QcapError } from "../src/errors.js";
import { toHex } from "../src/hash/hex.js";
import { bytesSource } from "../src/io/source.js";
import { publicKeyToPem } from "../src/keys/ed25519.js";
import { openBytes, packBytes, sampleInputs, signingKey } from "./helpers.js";

const GITHUB_ENV = {
  GITHUB_SERVER_URL: "https://github.com",
  GITHUB_REPOSITORY: "qcap-org/capsules",
  GITHUB_REPOSITORY_ID: "123",
  GITHUB_REPOSITORY_OWNER_ID: "45",
  GITHUB_REF: "refs/tags/v1.0.0",
  GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
  GITHUB_WORKFLOW: "release",
  GITHUB_WORKFLOW_REF: "qcap-org/capsules/.github/workflows/release.yml@refs/tags/v1.0.0",
  GITHUB_RUN_ID: "987",
  GITHUB_RUN_ATTEMPT: "2",
  GITHUB_EVENT_NAME: "push",
  RUNNER_ENVIRONMENT: "github-hosted",
  RUNNER_OS: "Linux",
  RUNNER_ARCH: "X64",
  RUNNER_NAME: "GitHub Actions 7",
};

async function sample() {
  const bytes = await packBytes(sampleInputs());
  const capsule = await openBytes(bytes);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { bytes, sha256, root: capsule.manifest.root };
}

const b64 = (s: string) => Buffer.from(s, "base64");

function expectQcapError(f: () => unknown, kind: string, message: RegExp) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(QcapError);
    expect((e as QcapError).kind).toBe(kind);
    expect((e as QcapError).message).toMatch(message);
    return;
  }
  throw new Error("expected a QcapError");
}

describe("attestation statements", () => {
  it("name the capsule file by sha256 only, its Merkle root as an annotation, with a SLSA v1 predicate", async () => {
    const { sha256, root } = await sample();
    const st = buildStatement(
      { name: "data.qcap", sha256, root },
      githubProvenance(githubRunFromEnv(GITHUB_ENV)),
    );
    expect(st._type).toBe("https://in-toto.io/Statement/v1");
    expect(st.predicateType).toBe("https://slsa.dev/provenance/v1");
    // Standard verifiers (sigstore-python) refuse digest algorithms they do not know.
    expect(st.subject).toEqual([
      { name: "data.qcap", digest: { sha256 }, annotations: { [ROOT_ANNOTATION]: root } },
    ]);
    expect(ROOT_ANNOTATION).toBe("qcapRoot");
    expect(st.predicate).toEqual({
      buildDefinition: {
        buildType: "https://actions.github.io/buildtypes/workflow/v1",
        externalParameters: {
          workflow: {
            ref: "refs/tags/v1.0.0",
            repository: "https://github.com/qcap-org/capsules",
            path: ".github/workflows/release.yml",
          },
        },
        internalParameters: {
          github: {
            event_name: "push",
            repository_id: "123",
            repository_owner_id: "45",
            runner_environment: "github-hosted",
          },
        },
        resolvedDependencies: [
          {
            uri: "git+https://github.com/qcap-org/capsules@refs/tags/v1.0.0",
            digest: { gitCommit: GITHUB_ENV.GITHUB_SHA },
          },
        ],
      },
      runDetails: {
        builder: {
          id: "https://github.com/qcap-org/capsules/.github/workflows/release.yml@refs/tags/v1.0.0",
        },
        metadata: { invocationId: "https://github.com/qcap-org/capsules/actions/runs/987/attempts/2" },
      },
    });
  });

  it("take the builder from job_workflow_ref and cut the workflow path at the first @", () => {
    // A reusable workflow called by a release tagged `widget@1.2.3`.
    const claims = {
      iss: "https://token.actions.githubusercontent.com",
      repository: "qcap-org/capsules",
      repository_id: "123",
      repository_owner_id: "45",
      ref: "refs/tags/widget@1.2.3",
      sha: GITHUB_ENV.GITHUB_SHA,
      workflow_ref: "qcap-org/capsules/.github/workflows/release.yml@refs/tags/widget@1.2.3",
      job_workflow_ref: "qcap-org/shared/.github/workflows/seal.yml@refs/heads/main",
      event_name: "push",
      run_id: "987",
      run_attempt: "2",
      runner_environment: "self-hosted",
      repository_visibility: "private",
    };
    const run = githubRunFromClaims(claims);
    expect(run.visibility).toBe("private");
    const p = githubProvenance(run) as {
      buildDefinition: { externalParameters: { workflow: unknown }; internalParameters: unknown };
      runDetails: { builder: { id: string } };
    };
    expect(p.runDetails.builder.id).toBe(
      "https://github.com/qcap-org/shared/.github/workflows/seal.yml@refs/heads/main",
    );
    expect(p.buildDefinition.externalParameters.workflow).toEqual({
      ref: "refs/tags/widget@1.2.3",
      repository: "https://github.com/qcap-org/capsules",
      path: ".github/workflows/release.yml",
    });
    expect(p.buildDefinition.internalParameters).toEqual({
      github: {
        event_name: "push",
        repository_id: "123",
        repository_owner_id: "45",
        runner_environment: "self-hosted",
      },
    });
    // The variables cannot name a reusable workflow, but they are cut at the first @ too.
    const fromEnv = githubProvenance(
      githubRunFromEnv({
        ...GITHUB_ENV,
        GITHUB_REF: "refs/tags/widget@1.2.3",
        GITHUB_WORKFLOW_REF: claims.workflow_ref,
      }),
    ) as typeof p;
    expect(fromEnv.buildDefinition.externalParameters.workflow).toMatchObject({
      path: ".github/workflows/release.yml",
    });

    const { job_workflow_ref: _, run_id: __, ...partial } = claims;
    expectQcapError(
      () => githubRunFromClaims(partial),
      "input",
      /^the OIDC token lacks the claims job_workflow_ref, run_id$/,
    );
  });

  it("read claims from a JWT without repeating it in errors", () => {
    const body = Buffer.from(JSON.stringify({ repository: "o/r" })).toString("base64url");
    expect(idTokenClaims(`eyJhbGciOiJSUzI1NiJ9.${body}.c2ln`)).toEqual({ repository: "o/r" });
    for (const bad of ["not-a-jwt", "a.b!.c", `x.${Buffer.from("[1]").toString("base64url")}.y`]) {
      try {
        idTokenClaims(bad);
        throw new Error("accepted");
      } catch (e) {
        expect((e as Error).message).toBe("the OIDC token is not a JWT");
      }
    }
  });

  it("need the variables of a GitHub Actions run", () => {
    const { GITHUB_SHA: _, ...env } = GITHUB_ENV;
    expectQcapError(() => githubRunFromEnv(env), "input", /GITHUB_SHA is not set/);
  });

  it("sha256Source hashes a whole source", async () => {
    const { bytes, sha256 } = await sample();
    expect(await sha256Source(bytesSource(bytes))).toBe(sha256);
    expect(await sha256Source(bytesSource(new Uint8Array(0)))).toBe(
      createHash("sha256").update("").digest("hex"),
    );
  });
});

describe("key-signed attestations", () => {
  const key = signingKey(3);

  async function signed() {
    const s = await sample();
    const statement = buildStatement(
      { name: "data.qcap", sha256: s.sha256, root: s.root },
      githubProvenance(githubRunFromEnv(GITHUB_ENV)),
    );
    const bundle = await signStatement(statement, { mode: "key", signingKey: key });
    return { ...s, statement, bundle };
  }

  it("are sigstore v0.3 DSSE bundles hinting the SPKI SHA-256, empty keyid, verifiable with plain Ed25519", async () => {
    const { bundle, statement } = await signed();
    expect(bundle.mediaType).toBe("application/vnd.dev.sigstore.bundle.v0.3+json");
    // The hint: SHA-256 of the key's SubjectPublicKeyInfo, computed here with node:crypto alone. The
    // DSSE keyid is empty: cosign and sigstore-go skip a signature whose keyid they do not compute.
    const spki = createPublicKey(publicKeyToPem(key.publicKey)).export({ type: "spki", format: "der" });
    const id = createHash("sha256").update(spki).digest("hex");
    expect(keyHint(key.publicKey)).toBe(id);
    expect(bundle.verificationMaterial.publicKey?.hint).toBe(id);
    expect(bundle.dsseEnvelope?.signatures.map((x) => x.keyid)).toEqual([""]);
    expect(bundle.verificationMaterial.tlogEntries ?? []).toEqual([]);
    const env = bundle.dsseEnvelope;
    if (!env) throw new Error("no DSSE envelope");
    expect(env.payloadType).toBe("application/vnd.in-toto+json");
    expect(JSON.parse(b64(env.payload).toString("utf8"))).toEqual(statement);
    // DSSE v1 pre-authentication encoding, written out independently of the libraries.
    const payload = b64(env.payload);
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${env.payloadType.length} ${env.payloadType} ${payload.length} `),
      payload,
    ]);
    const pub = createPublicKey(publicKeyToPem(key.publicKey));
    expect(nodeVerify(null, pae, pub, b64(env.signatures[0]?.sig ?? ""))).toBe(true);
  });

  it("verify with the issuer's key and match the capsule", async () => {
    const { bundle, sha256, root } = await signed();
    const r = verifyAttestation(bundle, { capsule: { sha256, root }, trustedKeys: [key.publicKey] });
    expect(r.mode).toBe("key");
    if (r.mode === "key") expect(r.publicKey).toBe(toHex(key.publicKey));

    // Bundles made before carried the raw public key as the hint; the hint is not signed.
    const env = bundle.dsseEnvelope as NonNullable<typeof bundle.dsseEnvelope>;
    const legacy = {
      ...bundle,
      verificationMaterial: { ...bundle.verificationMaterial, publicKey: { hint: toHex(key.publicKey) } },
      dsseEnvelope: {
        ...env,
        signatures: env.signatures.map((x) => ({ ...x, keyid: toHex(key.publicKey) })),
      },
    };
    expect(verifyAttestation(legacy, { capsule: { sha256, root }, trustedKeys: [key.publicKey] }).mode).toBe(
      "key",
    );
  });

  it("bind the capsule by sha256, and by the root annotation when there is one", async () => {
    const s = await sample();
    const capsule = { sha256: s.sha256, root: s.root };
    const sign = async (subject: Record<string, unknown>) =>
      signStatement(
        { ...buildStatement({ name: "data.qcap", ...capsule }, {}), subject: [subject] } as never,
        { mode: "key", signingKey: key },
      );
    // Another tool's statement (actions/attest-build-provenance): sha256 alone, which fixes the root.
    const plain = await sign({ name: "data.qcap", digest: { sha256: s.sha256 } });
    expect(verifyAttestation(plain, { capsule, trustedKeys: [key.publicKey] }).mode).toBe("key");
    // A root annotation that is not this capsule's is refused even when the sha256 matches.
    const wrongRoot = await sign({
      name: "data.qcap",
      digest: { sha256: s.sha256 },
      annotations: { [ROOT_ANNOTATION]: "ab".repeat(32) },
    });
    expectQcapError(
      () => verifyAttestation(wrongRoot, { capsule, trustedKeys: [key.publicKey] }),
      "integrity",
      /this capsule's sha256 but a different Merkle root/,
    );
    const notText = await sign({
      name: "data.qcap",
      digest: { sha256: s.sha256 },
      annotations: { [ROOT_ANNOTATION]: 7 },
    });
    expectQcapError(
      () => verifyAttestation(notText, { capsule, trustedKeys: [key.publicKey] }),
      "integrity",
      /different Merkle root/,
    );
    // Statements made before the annotation: the root as a digest-set key.
    const legacy = await sign({ name: "data.qcap", digest: { sha256: s.sha256, qcapRoot: s.root } });
    expect(verifyAttestation(legacy, { capsule, trustedKeys: [key.publicKey] }).mode).toBe("key");
  });

  it("are refused for another key, another capsule, or any changed byte", async () => {
    const { bundle, sha256, root } = await signed();
    const capsule = { sha256, root };
    expectQcapError(
      () => verifyAttestation(bundle, { capsule, trustedKeys: [signingKey(4).publicKey] }),
      "unauthorized",
      /signed by key [0-9a-f]{64}, which is not trusted/,
    );
    // The same files signed by another key: same Merkle root, another file.
    const other = await packBytes(sampleInputs(), { signingKey: signingKey(5) });
    const otherSha = createHash("sha256").update(other).digest("hex");
    expect((await openBytes(other)).manifest.root).toBe(root);
    expectQcapError(
      () =>
        verifyAttestation(bundle, {
          capsule: { sha256: otherSha, root },
          trustedKeys: [key.publicKey],
        }),
      "integrity",
      /Merkle root but a different file sha256/,
    );
    expectQcapError(
      () =>
        verifyAttestation(bundle, {
          capsule: { sha256: otherSha, root: "00".repeat(32) },
          trustedKeys: [key.publicKey],
        }),
      "integrity",
      /attestation is for a different capsule/,
    );

    // A statement rewritten to name another capsule, keeping the signature.
    const env = bundle.dsseEnvelope as NonNullable<typeof bundle.dsseEnvelope>;
    const forged = JSON.parse(b64(env.payload).toString("utf8"));
    forged.subject[0].digest.sha256 = otherSha;
    const tampered = {
      ...bundle,
      dsseEnvelope: { ...env, payload: Buffer.from(JSON.stringify(forged)).toString("base64") },
    };
    expectQcapError(
      () =>
        verifyAttestation(tampered, {
          capsule: { sha256: otherSha, root },
          trustedKeys: [key.publicKey],
        }),
      "integrity",
      /attestation rejected: signature verification failed/,
    );
    // One flipped bit of the signature.
    const sig = b64(env.signatures[0]?.sig ?? "");
    sig[10] = (sig[10] as number) ^ 1;
    const badSig = {
      ...bundle,
      dsseEnvelope: { ...env, signatures: [{ keyid: "", sig: sig.toString("base64") }] },
    };
    expectQcapError(
      () => verifyAttestation(badSig, { capsule, trustedKeys: [key.publicKey] }),
      "integrity",
      /signature verification failed/,
    );
  });

  it("refuse options that do not apply and malformed bundles", async () => {
    const { bundle, sha256, root } = await signed();
    const capsule = { sha256, root };
    expectQcapError(
      () => verifyAttestation(bundle, { capsule, trustedKeys: [key.publicKey], identity: "x", issuer: "y" }),
      "usage",
      /signed with a key, not a certificate/,
    );
    expectQcapError(() => verifyAttestation(bundle, { capsule }), "usage", /needs the issuer's public key/);
    expectQcapError(
      () => verifyAttestation({ mediaType: "nope" }, { capsule }),
      "format",
      /not a sigstore bundle/,
    );
  });
});
