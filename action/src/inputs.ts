/**
 * The action's inputs, read and checked before any work: every problem is one clear message naming
 * the input. Secret inputs are registered with the runner (`core.setSecret`) first, so no log shows them.
 */
import { readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import * as core from "@actions/core";
import { parseRecipient, parseSigningKey, QcapError, type SigningKey } from "@qcap/core";

export class InputError extends Error {}

export interface S3Inputs {
  endpoint?: string;
  bucket: string;
  prefix: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** Which sigstore services sign keyless: GitHub's choice by default (see `sigstoreServices`). */
export type SigstoreInstance = "auto" | "public-good" | "github";

export interface ActionInputs {
  patterns: string[];
  /** Seal hidden files and folders too (upload-artifact's `include-hidden-files`). */
  includeHidden: boolean;
  name: string;
  recipients: { text: string; key: Uint8Array }[];
  /** Absent only with keyless attestation: the capsule is then signed with a one-time key. */
  signingKey?: SigningKey;
  meta?: string;
  attest: boolean;
  sigstore: "keyless" | "key";
  output: string;
  sigstoreInstance: SigstoreInstance;
  /** Explicit service URLs; they replace the instance's (see `sigstoreServices`). */
  fulcioUrl?: string;
  tsaUrl?: string;
  rekorUrl?: string;
  rekorApiVersion: 1 | 2;
  /** Store the bundle with the repository's attestations (needs `attestations: write`). */
  githubAttestation: boolean;
  githubToken?: string;
  s3?: S3Inputs;
}

/**
 * Registers a secret, and each key-like token in it (hex seeds, `AGE-SECRET-KEY-1…`, PEM base64 lines):
 * the runner matches a multi-line secret only as a whole. The public members of a Q-Cap key file are
 * not secret and stay readable in logs.
 */
function mask(value: string) {
  if (!value.trim()) return;
  core.setSecret(value);
  let publicValues: string[] = [];
  try {
    const parsed = JSON.parse(value) as { public?: Record<string, unknown> };
    publicValues = Object.values(parsed.public ?? {}).map(String);
  } catch {}
  for (const token of value.match(/[A-Za-z0-9+/=_-]{16,}/g) ?? [])
    if (!publicValues.includes(token)) core.setSecret(token);
}

const lines = (value: string) =>
  value
    .split(/\r?\n/)
    .map((l, i) => ({ text: l.trim(), line: i + 1 }))
    .filter(({ text }) => text !== "" && !text.startsWith("#"));

function url(name: string, value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error();
    return value.replace(/\/+$/, "");
  } catch {
    throw new InputError(`input ${name} is not an http(s) URL: ${value}`);
  }
}

/** A key given as text, or as the path of a file holding it. Messages never repeat the value. */
function signingKeyFrom(value: string): SigningKey {
  const text = value.trim();
  const looksLikeKey =
    /^(\{|-----|AGE-)/.test(text) || /^[0-9a-fA-F\s]{64,}$/.test(text) || text.includes("\n");
  let keyText = text;
  if (!looksLikeKey) {
    try {
      keyText = readFileSync(text, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InputError(
        code === "ENOENT"
          ? "input signing-key is neither an Ed25519 key (Q-Cap key file, PKCS#8 PEM, 64-hex seed) nor the path of a file"
          : `input signing-key names a file that cannot be read (${code})`,
      );
    }
    mask(keyText);
  }
  try {
    return parseSigningKey(keyText);
  } catch (e) {
    if (e instanceof QcapError) throw new InputError(`input signing-key: ${e.message}`);
    throw e;
  }
}

function boolean(name: string, value: string, fallback: boolean): boolean {
  const text = value || String(fallback);
  if (!/^(true|True|TRUE|false|False|FALSE)$/.test(text))
    throw new InputError(`input ${name} must be true or false, not ${text}`);
  return text.toLowerCase() === "true";
}

export function readInputs(env: NodeJS.ProcessEnv = process.env): ActionInputs {
  // Secrets first, before anything can be logged.
  const signingKeyText = core.getInput("signing-key");
  mask(signingKeyText);
  const s3Secret = core.getInput("s3-secret-access-key");
  mask(s3Secret);
  const githubToken = core.getInput("github-token");
  mask(githubToken);

  const patterns = lines(core.getInput("paths")).map((l) => l.text);
  if (patterns.length === 0)
    throw new InputError("input paths is empty: list the build outputs to seal, one glob per line");

  const repo = (env.GITHUB_REPOSITORY ?? "").split("/")[1];
  const name = core.getInput("name") || repo || "capsule";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.length > 200)
    throw new InputError(`input name must be a file name of letters, digits, '.', '_' and '-': ${name}`);

  const recipients = lines(core.getInput("recipients")).map(({ text, line }) => {
    if (!text.startsWith("age1"))
      throw new InputError(`input recipients, line ${line}: not an age public key (age1…)`);
    try {
      return { text, key: parseRecipient(text) };
    } catch (e) {
      throw new InputError(`input recipients, line ${line}: ${(e as Error).message}`);
    }
  });

  const attest = boolean("attest", core.getInput("attest"), true);
  const includeHidden = boolean("include-hidden-files", core.getInput("include-hidden-files"), false);
  const mode = core.getInput("sigstore") || "keyless";
  if (mode !== "keyless" && mode !== "key")
    throw new InputError(`input sigstore must be keyless or key, not ${mode}`);

  const signingKey = signingKeyText.trim() ? signingKeyFrom(signingKeyText) : undefined;
  if (!signingKey && !(attest && mode === "keyless"))
    throw new InputError(
      attest
        ? "input signing-key is required with sigstore: key (it signs the capsule and the attestation)"
        : "input signing-key is required without keyless attestation: nothing else would vouch for the capsule",
    );

  const meta = core.getInput("meta") || undefined;
  const output = resolve(core.getInput("output") || `${name}.qcap`);
  if (basename(output).startsWith("."))
    throw new InputError(`input output must not be a hidden file: ${output}`);

  const instance = core.getInput("sigstore-instance") || "auto";
  if (instance !== "auto" && instance !== "public-good" && instance !== "github")
    throw new InputError(`input sigstore-instance must be auto, public-good or github, not ${instance}`);
  const fulcio = core.getInput("fulcio-url");
  const tsa = core.getInput("tsa-url");
  const rekor = core.getInput("rekor-url");
  if (fulcio && !tsa && !rekor)
    throw new InputError(
      "input fulcio-url needs tsa-url or rekor-url: a keyless bundle needs a trusted time for its short-lived certificate",
    );
  const rekorApi = core.getInput("rekor-api-version") || "1";
  if (rekorApi !== "1" && rekorApi !== "2")
    throw new InputError(`input rekor-api-version must be 1 or 2, not ${rekorApi}`);
  const githubAttestation = boolean("github-attestation", core.getInput("github-attestation"), false);
  if (githubAttestation && !attest)
    throw new InputError("input github-attestation needs attest: true (there is no attestation to store)");
  if (githubAttestation && !githubToken)
    throw new InputError(
      "input github-attestation needs github-token (default: the workflow's github.token)",
    );
  const bucket = core.getInput("s3-bucket");
  let s3: S3Inputs | undefined;
  if (bucket) {
    const accessKeyId = core.getInput("s3-access-key-id") || undefined;
    if (Boolean(accessKeyId) !== Boolean(s3Secret))
      throw new InputError("inputs s3-access-key-id and s3-secret-access-key go together");
    const endpoint = core.getInput("s3-endpoint");
    const prefix = core.getInput("s3-prefix").replace(/^\/+/, "");
    s3 = {
      ...(endpoint ? { endpoint: url("s3-endpoint", endpoint) } : {}),
      bucket,
      prefix: prefix && !prefix.endsWith("/") ? `${prefix}/` : prefix,
      region: core.getInput("s3-region") || "us-east-1",
      ...(accessKeyId ? { accessKeyId, secretAccessKey: s3Secret } : {}),
    };
  } else if (core.getInput("s3-endpoint") || core.getInput("s3-access-key-id")) {
    // Workflows often template every input and leave the bucket empty to turn uploads off.
    core.warning("s3-bucket is empty: not uploading (s3-endpoint or credentials are set)");
  }

  return {
    patterns,
    includeHidden,
    name,
    recipients,
    ...(signingKey ? { signingKey } : {}),
    ...(meta ? { meta } : {}),
    attest,
    sigstore: mode,
    output,
    sigstoreInstance: instance,
    ...(fulcio ? { fulcioUrl: url("fulcio-url", fulcio) } : {}),
    ...(tsa ? { tsaUrl: url("tsa-url", tsa) } : {}),
    ...(rekor ? { rekorUrl: url("rekor-url", rekor) } : {}),
    rekorApiVersion: rekorApi === "2" ? 2 : 1,
    githubAttestation,
    ...(githubToken ? { githubToken } : {}),
    ...(s3 ? { s3 } : {}),
  };
}
