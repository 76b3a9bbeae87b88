/**
 * The action: find the build outputs, pack (and seal) them into a signed capsule, attest it with
 * sigstore, upload it, set the outputs and write the job summary.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rename, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import * as core from "@actions/core";
import { encodeRecipient, pack, parseSigningKey, type SigningKey } from "@qcap/core";
import {
  buildStatement,
  certificateIdentity,
  type GitHubRun,
  githubProvenance,
  githubRunFromClaims,
  githubRunFromEnv,
  idTokenClaims,
  type SignOptions,
  signStatement,
} from "@qcap/core/attest";
import { fileSink, withEngine } from "@qcap/core/node";
import { findFiles, metaInputs } from "./files.js";
import { type StoredAttestation, storeAttestation } from "./github-attestations.js";
import { type ActionInputs, InputError, readInputs } from "./inputs.js";
import { identityToken } from "./oidc.js";
import { objectUrl, upload } from "./s3.js";
import { sigstoreServices } from "./sigstore.js";
import { writeSummary } from "./summary.js";

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(piece);
  return hash.digest("hex");
}

/** Writes next to `path` and renames into place, so readers never see a partial file. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(temp, text, { mode: 0o644 });
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => {});
    throw e;
  }
}

/** The key id that tools display for a recipient (SPEC §5.3). */
function kidOf(manifestRecipients: { type: string; kid?: string }[], index: number): string {
  return manifestRecipients[index]?.kid ?? "";
}

/** The run's provenance facts: the ID token's claims when the job has one, else the step's variables. */
async function provenanceRun(token: string | undefined): Promise<GitHubRun> {
  const serverUrl = process.env.GITHUB_SERVER_URL || "https://github.com";
  if (token) return githubRunFromClaims(idTokenClaims(token), serverUrl);
  if (process.env.ACTIONS_ID_TOKEN_REQUEST_URL)
    return githubRunFromClaims(idTokenClaims(await identityToken("nobody")), serverUrl);
  core.warning(
    "no OIDC token (the job lacks `permissions: id-token: write`): provenance is read from the step's variables, which name the calling workflow, not a reusable one",
  );
  return githubRunFromEnv(process.env);
}

/** Files this run wrote; removed if a later step fails, so no capsule outlives a failed step. */
class Written {
  private paths: string[] = [];
  add(path: string) {
    this.paths.push(path);
  }
  get count() {
    return this.paths.length;
  }
  async removeAll() {
    for (const p of this.paths.reverse()) await unlink(p).catch(() => {});
  }
}

export async function run(): Promise<void> {
  const inputs: ActionInputs = readInputs();
  const written = new Written();
  try {
    await runSteps(inputs, written);
  } catch (e) {
    await written.removeAll();
    if (written.count > 0) core.info("the capsule and its attestation were removed: the step failed");
    throw e;
  }
}

async function runSteps(inputs: ActionInputs, written: Written): Promise<void> {
  const bundlePath = `${inputs.output}.sigstore.json`;

  // Keyless problems show before any work: a missing permission is the most common mistake.
  if (inputs.attest && inputs.sigstore === "keyless" && !process.env.ACTIONS_ID_TOKEN_REQUEST_URL)
    throw new InputError(
      "keyless attestation needs the workflow's OIDC token, which this job cannot request: add `permissions: id-token: write` to the job (or use sigstore: key with a signing-key)",
    );

  const { inputs: files } = await findFiles(
    inputs.patterns,
    [inputs.output, bundlePath],
    inputs.includeHidden,
  );
  const meta = inputs.meta ? await metaInputs(inputs.meta) : [];

  // Without a key, keyless attestation vouches for the capsule; the one-time key is then thrown away.
  const ephemeralIssuer = !inputs.signingKey;
  const signingKey: SigningKey = inputs.signingKey ?? parseSigningKey(randomBytes(32).toString("hex"));

  await mkdir(dirname(inputs.output), { recursive: true });
  core.info(
    `sealing ${files.length} file${files.length === 1 ? "" : "s"} into ${inputs.output}` +
      (inputs.recipients.length
        ? ` for ${inputs.recipients.length} recipient(s)`
        : " (signed, not encrypted)"),
  );
  // Large files are sealed a block at a time on worker threads (dist/worker.js).
  const all = [...files, ...meta];
  written.add(inputs.output);
  const packed = await withEngine(async (engine) => {
    const options = { signingKey, recipients: inputs.recipients.map((r) => r.key), engine };
    return pack(all, await fileSink(inputs.output), options);
  });
  const manifest = packed.manifest;
  const sha256 = await sha256File(inputs.output);
  core.info(`capsule ${inputs.output}: ${packed.size} bytes, sha256:${sha256}, root ${manifest.root}`);

  let attestation: Parameters<typeof writeSummary>[0]["attestation"];
  let stored: StoredAttestation | undefined;
  if (inputs.attest) {
    // Keyless: one token gives both the provenance facts and, through Fulcio, the certificate.
    const token = inputs.sigstore === "keyless" ? await identityToken() : undefined;
    const run = await provenanceRun(token);
    const statement = buildStatement(
      { name: basename(inputs.output), sha256, root: manifest.root },
      githubProvenance(run),
    );
    let options: SignOptions;
    if (token) {
      const services = sigstoreServices(inputs, process.env, run.visibility);
      core.info(
        `attesting with sigstore (${services.instance}: Fulcio ${services.fulcioUrl}` +
          `${services.tsaUrl ? `, TSA ${services.tsaUrl}` : ""}${services.rekorUrl ? `, Rekor ${services.rekorUrl}` : ""})`,
      );
      options = {
        mode: "keyless",
        identityToken: async () => token,
        fulcioUrl: services.fulcioUrl,
        ...(services.tsaUrl ? { tsaUrl: services.tsaUrl } : {}),
        ...(services.rekorUrl
          ? { rekorUrl: services.rekorUrl, rekorApiVersion: services.rekorApiVersion }
          : {}),
      };
    } else {
      core.info("attesting with the signing key");
      options = { mode: "key", signingKey };
    }
    const bundle = await signStatement(statement, options);
    written.add(bundlePath);
    await writeAtomic(bundlePath, `${JSON.stringify(bundle, null, 2)}\n`);
    const who = token ? certificateIdentity(bundle) : undefined;
    attestation = who ? { mode: "keyless", path: bundlePath, ...who } : { mode: "key", path: bundlePath };
    core.info(`attestation ${bundlePath}${who ? `: ${who.identity} (issuer ${who.issuer})` : ""}`);
    if (inputs.githubAttestation) {
      stored = await storeAttestation(bundle, {
        apiUrl: process.env.GITHUB_API_URL || "https://api.github.com",
        serverUrl: process.env.GITHUB_SERVER_URL || "https://github.com",
        repository: process.env.GITHUB_REPOSITORY ?? "",
        token: inputs.githubToken ?? "",
      });
      core.info(`attestation stored with the repository: ${stored.url}`);
    }
  }

  let url: string | undefined;
  if (inputs.s3) {
    const key = `${inputs.s3.prefix}${basename(inputs.output)}`;
    const items = [{ path: inputs.output, key, contentType: "application/vnd.qcap+zip" }];
    if (attestation)
      items.push({ path: bundlePath, key: `${key}.sigstore.json`, contentType: "application/json" });
    core.info(`uploading to s3://${inputs.s3.bucket}/${key}`);
    await upload(inputs.s3, items);
    url = objectUrl(inputs.s3, key);
  }

  await writeSummary({
    capsulePath: inputs.output,
    size: packed.size,
    sha256,
    root: manifest.root,
    issuer: manifest.issuer,
    ephemeralIssuer,
    files: files.map((f) => ({ name: f.name.slice("payload/".length), size: f.size })),
    meta: meta.map((f) => ({ name: f.name, size: f.size })),
    recipients: inputs.recipients.map((r, i) => ({
      kid: kidOf(manifest.seal?.recipients ?? [], i),
      text: encodeRecipient(r.key),
    })),
    ...(attestation ? { attestation } : {}),
    ...(url ? { url } : {}),
    ...(stored ? { storedIn: process.env.GITHUB_REPOSITORY ?? "" } : {}),
  });

  // Outputs last: a step that failed before here leaves none.
  core.setOutput("capsule-path", inputs.output);
  core.setOutput("merkle-root", manifest.root);
  core.setOutput("digest", `sha256:${sha256}`);
  core.setOutput("attestation-path", attestation ? bundlePath : "");
  core.setOutput("attestation-id", stored?.id ?? "");
  core.setOutput("attestation-url", stored?.url ?? "");
  core.setOutput("url", url ?? "");
}
