/** The bundled action with `sigstore: key`: sealing, outputs, summary and attestation, fully offline. */
import { createHash, createPublicKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  htmlText,
  pattern,
  qcap,
  SHA,
  summaryCommand,
  visibleLog,
  type Workspace,
  workspace,
  writeKey,
} from "./helpers.js";

let ws: Workspace;
let publisher: ReturnType<typeof writeKey>;
let reader: ReturnType<typeof writeKey>;
let other: ReturnType<typeof writeKey>;

beforeAll(() => {
  ws = workspace();
  publisher = writeKey(ws.dir("publisher.key"));
  reader = writeKey(ws.dir("reader.key"));
  other = writeKey(ws.dir("other.key"));
});
afterAll(() => ws.remove());

const keyInputs = () => ({
  paths: "dist/**\n!dist/**/*.map",
  name: "sample-build",
  "signing-key": readFileSync(ws.dir("publisher.key"), "utf8"),
  sigstore: "key",
  recipients: `# readers\n${reader.recipient}\n\n${other.recipient}\n`,
  meta: "stac",
  output: "out/sample-build.qcap",
});

describe("action with sigstore: key", () => {
  let result: Awaited<ReturnType<Workspace["run"]>>;
  beforeAll(async () => {
    result = await ws.run(keyInputs());
  });

  it("seals the matched files, sets the outputs and exits 0", () => {
    expect(result.errors).toEqual([]);
    expect(result.code).toBe(0);
    const capsule = ws.dir("ws", "out", "sample-build.qcap");
    expect(result.outputs["capsule-path"]).toBe(capsule);
    const bytes = readFileSync(capsule);
    expect(result.outputs.digest).toBe(`sha256:${createHash("sha256").update(bytes).digest("hex")}`);
    const info = JSON.parse(qcap(["inspect", capsule, "--json"]).stdout);
    expect(result.outputs["merkle-root"]).toBe(info.root);
    expect(info.issuer).toBe(publisher.publicKey);
    expect(info.sealed).toBe(true);
    expect(result.outputs["attestation-path"]).toBe(`${capsule}.sigstore.json`);
    expect(result.outputs.url).toBe("");
    // No temporary files are left next to the outputs.
    expect(readdirSync(ws.dir("ws", "out")).sort()).toEqual([
      "sample-build.qcap",
      "sample-build.qcap.sigstore.json",
    ]);
  });

  it("stores paths relative to the patterns' common folder, metadata in the clear, modes kept", () => {
    const capsule = result.outputs["capsule-path"] as string;
    const out = ws.dir("opened");
    const opened = qcap([
      "open",
      capsule,
      "-o",
      out,
      "-i",
      ws.dir("reader.key"),
      "--meta-out",
      ws.dir("meta"),
    ]);
    expect(opened.stderr).toMatch(/^qcap: warning: signer [0-9a-f]{64} .* is not pinned[^\n]*\n$/);
    expect(opened.code).toBe(0);
    const files = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(d, e.name)).map((f) => `${e.name}/${f}`) : [e.name],
      );
    expect(files(out).sort()).toEqual(["README.txt", "app.bin", "bin/tool", "docs/api/index.html"]);
    expect(readFileSync(join(out, "app.bin")).equals(pattern(3 * 65536 + 777))).toBe(true);
    expect(statSync(join(out, "bin", "tool")).mode & 0o777).toBe(0o755);
    expect(readFileSync(ws.dir("meta", "item.json"), "utf8")).toContain('"id":"sample"');
    // The second recipient opens it too; the publisher's own identity is not a recipient.
    expect(qcap(["open", capsule, "-o", ws.dir("opened2"), "-i", ws.dir("other.key")]).code).toBe(0);
    expect(qcap(["open", capsule, "-o", ws.dir("opened3"), "-i", ws.dir("publisher.key")]).code).toBe(1);
  });

  it("writes a DSSE bundle with an in-toto statement naming the capsule, signed by the signing key", () => {
    const bundle = JSON.parse(readFileSync(result.outputs["attestation-path"] as string, "utf8"));
    expect(bundle.mediaType).toBe("application/vnd.dev.sigstore.bundle.v0.3+json");
    // The hint is the SHA-256 of the key's SubjectPublicKeyInfo; the DSSE keyid is empty (cosign).
    const spki = createPublicKey({
      key: Buffer.concat([
        Buffer.from("302a300506032b6570032100", "hex"),
        Buffer.from(publisher.publicKey, "hex"),
      ]),
      format: "der",
      type: "spki",
    }).export({ type: "spki", format: "der" });
    expect(bundle.verificationMaterial.publicKey.hint).toBe(createHash("sha256").update(spki).digest("hex"));
    expect(bundle.dsseEnvelope.signatures).toEqual([{ keyid: "", sig: expect.any(String) }]);
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8"));
    expect(statement.subject).toEqual([
      {
        name: "sample-build.qcap",
        digest: { sha256: (result.outputs.digest as string).slice("sha256:".length) },
        annotations: { qcapRoot: result.outputs["merkle-root"] },
      },
    ]);
    expect(statement.predicate.buildDefinition.resolvedDependencies[0].digest.gitCommit).toBe(SHA);
    expect(statement.predicate.runDetails.metadata.invocationId).toBe(
      "https://github.com/qcap-test/capsule/actions/runs/4242/attempts/1",
    );
    // Without an ID token the step's variables describe the run, as GitHub's claims would.
    expect(statement.predicate.buildDefinition.internalParameters).toEqual({
      github: {
        event_name: "push",
        repository_id: "123456789",
        repository_owner_id: "1000",
        runner_environment: "github-hosted",
      },
    });
    expect(result.stdout).toMatch(/::warning::no OIDC token/);
  });

  it("the bundle verifies with the publisher's key and is refused with another", () => {
    const capsule = result.outputs["capsule-path"] as string;
    const bundle = result.outputs["attestation-path"] as string;
    const ok = qcap(["verify", capsule, "--attestation", bundle, "--trust", publisher.publicKey, "--json"]);
    expect(ok.stderr).toBe("");
    expect(JSON.parse(ok.stdout).attestation.mode).toBe("key");
    const bad = qcap(["verify", capsule, "--attestation", bundle, "--trust", other.publicKey]);
    expect(bad.code).toBe(1);
  });

  it("summarizes files, sizes, root, recipients and a verify command that works as written", () => {
    const s = result.summary;
    expect(s).toContain("<h3>Q-Cap capsule sample-build.qcap</h3>");
    expect(s).toContain(`<code>${result.outputs["merkle-root"]}</code>`);
    expect(s).toContain(`<code>${result.outputs.digest}</code>`);
    expect(s).toContain("<h4>Files (4 + 1 metadata)</h4>");
    expect(s).toContain("<tr><td><code>app.bin</code></td><td>192.8 KiB</td></tr>");
    expect(s).toContain("<tr><td><code>README.txt</code></td><td>13 B</td></tr>");
    expect(s).toContain("<tr><td><code>meta/item.json</code></td><td>33 B</td></tr>");
    // Names are HTML-escaped.
    expect(s).toContain("<code>docs/api/index.html</code>");
    expect(s).not.toContain("debug.map");
    const kids = JSON.parse(
      qcap(["inspect", result.outputs["capsule-path"] as string, "--json"]).stdout,
    ).recipients.map((r: { kid: string }) => r.kid);
    expect(kids).toHaveLength(2);
    for (const kid of kids) expect(s).toContain(`<code>${kid}</code>`);
    expect(s).toContain(`<code>${reader.recipient}</code>`);

    const words = summaryCommand(s);
    expect(words.slice(0, 3)).toEqual(["qcap", "verify", "sample-build.qcap"]);
    const r = qcap(words.slice(1), ws.dir("ws", "out"));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/attestation OK: signed by key/);
    expect(htmlText(s)).not.toContain(publisher.seed);
  });

  it("never shows the signing key in the log, and registers it and its seed as secrets", () => {
    expect(visibleLog(result)).not.toContain(publisher.seed);
    expect(visibleLog(result)).not.toContain("AGE-SECRET-KEY-1");
    const masks = result.stdout.split("\n").filter((l) => l.startsWith("::add-mask::"));
    expect(masks).toContain(`::add-mask::${publisher.seed}`);
  });
});

describe("action variants", () => {
  it("seals large files on the block engine's worker thread, started from dist/worker.js", async () => {
    const big = pattern(9 * 1024 * 1024 + 4321);
    mkdirSync(ws.dir("ws", "large"), { recursive: true });
    writeFileSync(ws.dir("ws", "large", "big.bin"), big);
    const r = await ws.run({
      paths: "large/**",
      "signing-key": publisher.seed,
      recipients: reader.recipient,
      attest: "false",
      output: "large.qcap",
    });
    expect(r.errors).toEqual([]);
    expect(r.code).toBe(0);
    const opened = ws.dir("large-opened");
    expect(qcap(["open", ws.dir("ws", "large.qcap"), "-i", ws.dir("reader.key"), "-o", opened]).code).toBe(0);
    expect(readFileSync(join(opened, "big.bin")).equals(big)).toBe(true);
  });

  it("without recipients: signed but not sealed; without attestation: no bundle; no bucket: no upload", async () => {
    const r = await ws.run({
      paths: "dist/README.txt",
      "signing-key": publisher.seed,
      attest: "false",
      output: "plain.qcap",
      "s3-endpoint": "http://127.0.0.1:9",
      "s3-prefix": "releases/",
    });
    expect(r.errors).toEqual([]);
    expect(r.stdout).toContain("::warning::s3-bucket is empty: not uploading");
    expect(r.outputs.url).toBe("");
    expect(r.code).toBe(0);
    const capsule = ws.dir("ws", "plain.qcap");
    expect(r.outputs["capsule-path"]).toBe(capsule);
    expect(r.outputs["attestation-path"]).toBe("");
    expect(existsSync(`${capsule}.sigstore.json`)).toBe(false);
    const info = JSON.parse(qcap(["inspect", capsule, "--json"]).stdout);
    expect(info.sealed).toBe(false);
    // A single file is stored under its own name.
    expect(info.entries.map((e: { name: string }) => e.name)).toEqual(["payload/README.txt"]);
    expect(r.summary).toContain("no (signed, not encrypted)");
    expect(r.summary).toContain("<td>attestation</td><td>none</td>");
    expect(qcap(["verify", capsule, "--trust", publisher.publicKey]).code).toBe(0);
  });

  it("takes a PKCS#8 PEM signing key, or the path of a key file; the name defaults to the repository's", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    writeFileSync(ws.dir("pem.pub"), publicKey.export({ type: "spki", format: "pem" }).toString());
    const r = await ws.run({ paths: "dist/bin/*", "signing-key": pem, sigstore: "key" });
    expect(r.errors).toEqual([]);
    const capsule = ws.dir("ws", "capsule.qcap");
    expect(r.outputs["capsule-path"]).toBe(capsule);
    const bundle = `${capsule}.sigstore.json`;
    expect(qcap(["verify", capsule, "--attestation", bundle, "--trust", ws.dir("pem.pub")]).code).toBe(0);
    for (const line of pem.split("\n").filter((l) => l && !l.startsWith("-----")))
      expect(visibleLog(r)).not.toContain(line);

    const fromFile = await ws.run({
      paths: "dist/bin/*",
      "signing-key": ws.dir("publisher.key"),
      sigstore: "key",
      output: "from-file.qcap",
    });
    expect(fromFile.errors).toEqual([]);
    const info = JSON.parse(qcap(["inspect", ws.dir("ws", "from-file.qcap"), "--json"]).stdout);
    expect(info.issuer).toBe(publisher.publicKey);
  });
});
