/**
 * The sigstore services a keyless attestation uses, chosen as GitHub's own attest actions choose them:
 * public repositories sign with the public-good Fulcio and record the signature in its Rekor log (what
 * cosign, sigstore-python and `gh attestation verify` expect by default); private and internal ones sign
 * with GitHub's Fulcio and its timestamp authority, and publish nothing. Inputs override the choice.
 */
import { readFileSync, statSync } from "node:fs";
import { InputError, type SigstoreInstance } from "./inputs.js";

export const PUBLIC_GOOD = {
  fulcioUrl: "https://fulcio.sigstore.dev",
  rekorUrl: "https://rekor.sigstore.dev",
};

export interface SigstoreServices {
  instance: "public-good" | "github" | "custom";
  fulcioUrl: string;
  tsaUrl?: string;
  rekorUrl?: string;
  rekorApiVersion: 1 | 2;
}

/** Event payloads are small; a bigger file is not read (the choice then falls back to GitHub's instance). */
const MAX_EVENT_BYTES = 25 << 20;

/**
 * The repository's visibility: the event payload's `repository.visibility` (or `private`), as
 * @actions/attest reads it, else the ID token's `repository_visibility` claim.
 */
export function repositoryVisibility(env: NodeJS.ProcessEnv, claimVisibility?: string): string | undefined {
  const path = env.GITHUB_EVENT_PATH;
  if (path) {
    try {
      if (statSync(path).size <= MAX_EVENT_BYTES) {
        const repo = (JSON.parse(readFileSync(path, "utf8")) as { repository?: Record<string, unknown> })
          .repository;
        if (typeof repo?.visibility === "string") return repo.visibility;
        if (typeof repo?.private === "boolean") return repo.private ? "private" : "public";
      }
    } catch {
      // No readable payload: the claim decides.
    }
  }
  return claimVisibility;
}

/** GitHub's own sigstore instance for a GitHub server (github.com or a GHE.com tenant). */
function githubInstance(serverUrl: string): { fulcioUrl: string; tsaUrl: string } {
  let host: string;
  try {
    host = new URL(serverUrl).hostname;
  } catch {
    throw new InputError(`GITHUB_SERVER_URL is not a URL: ${serverUrl}`);
  }
  if (host === "github.com") host = "githubapp.com";
  else if (!/^[a-z0-9-]+\.ghe\.com$/.test(host))
    throw new InputError(
      `GitHub's sigstore instance serves github.com and GHE.com only, not ${host}: set fulcio-url and tsa-url`,
    );
  return { fulcioUrl: `https://fulcio.${host}`, tsaUrl: `https://timestamp.${host}` };
}

export interface ServiceInputs {
  sigstoreInstance: SigstoreInstance;
  fulcioUrl?: string;
  tsaUrl?: string;
  rekorUrl?: string;
  rekorApiVersion: 1 | 2;
}

/**
 * fulcio-url set: exactly the given services (tsa-url and/or rekor-url). Otherwise the instance (auto: by
 * visibility), with tsa-url or rekor-url added to or replacing its own.
 */
export function sigstoreServices(
  inputs: ServiceInputs,
  env: NodeJS.ProcessEnv,
  claimVisibility?: string,
): SigstoreServices {
  if (inputs.fulcioUrl)
    return {
      instance: "custom",
      fulcioUrl: inputs.fulcioUrl,
      ...(inputs.tsaUrl ? { tsaUrl: inputs.tsaUrl } : {}),
      ...(inputs.rekorUrl ? { rekorUrl: inputs.rekorUrl } : {}),
      rekorApiVersion: inputs.rekorApiVersion,
    };
  const instance =
    inputs.sigstoreInstance !== "auto"
      ? inputs.sigstoreInstance
      : repositoryVisibility(env, claimVisibility) === "public"
        ? "public-good"
        : "github";
  const base: { fulcioUrl: string; tsaUrl?: string; rekorUrl?: string } =
    instance === "public-good"
      ? { ...PUBLIC_GOOD }
      : githubInstance(env.GITHUB_SERVER_URL || "https://github.com");
  return {
    instance,
    ...base,
    ...(inputs.tsaUrl ? { tsaUrl: inputs.tsaUrl } : {}),
    ...(inputs.rekorUrl ? { rekorUrl: inputs.rekorUrl } : {}),
    // The public-good log is Rekor v1 unless another log is named.
    rekorApiVersion: inputs.rekorUrl ? inputs.rekorApiVersion : 1,
  };
}
