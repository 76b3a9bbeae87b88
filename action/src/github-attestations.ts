/**
 * Stores a sigstore bundle with the repository's attestations (`POST /repos/{owner}/{repo}/attestations`,
 * permission `attestations: write`), as actions/attest does, so `gh attestation verify FILE -R owner/repo`
 * finds it without `--bundle`.
 */
export class AttestationStoreError extends Error {}

export interface StoredAttestation {
  id: string;
  url: string;
}

const TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 1 << 20;

/** Reasons GitHub gives, made actionable; other failures name the status. */
function explain(status: number, message: string): string {
  if (status === 403 || status === 404)
    return `${status} ${message}: the job needs \`permissions: attestations: write\` (and id-token: write), and private repositories need a plan with artifact attestations`;
  if (status === 401) return `401 ${message}: the github-token input is not a valid token`;
  return `${status} ${message}`;
}

export async function storeAttestation(
  bundle: unknown,
  o: { apiUrl: string; serverUrl: string; repository: string; token: string },
): Promise<StoredAttestation> {
  const [owner, repo] = o.repository.split("/");
  if (!owner || !repo)
    throw new AttestationStoreError(`GITHUB_REPOSITORY is not owner/repo: ${o.repository}`);
  const endpoint = `${o.apiUrl.replace(/\/+$/, "")}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/attestations`;
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: {
        accept: "application/vnd.github+json",
        authorization: `Bearer ${o.token}`,
        "content-type": "application/json",
        "user-agent": "qcap-action",
        "x-github-api-version": "2022-11-28",
      },
      body: JSON.stringify({ bundle }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: "error",
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    throw new AttestationStoreError(
      `storing the attestation at ${new URL(endpoint).origin} failed: ${cause ?? (e as Error).name}`,
    );
  }
  const text = (await response.text()).slice(0, MAX_RESPONSE_BYTES);
  let body: { id?: unknown; message?: unknown } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // Not JSON: the status says enough.
  }
  if (!response.ok) {
    const message = typeof body.message === "string" ? body.message.replace(/\s+/g, " ").slice(0, 200) : "";
    throw new AttestationStoreError(
      `storing the attestation with ${o.repository} failed: ${explain(response.status, message || response.statusText)}`,
    );
  }
  if (typeof body.id !== "number" && typeof body.id !== "string")
    throw new AttestationStoreError("storing the attestation: GitHub's answer names no attestation id");
  const id = String(body.id);
  return {
    id,
    url: `${o.serverUrl.replace(/\/+$/, "")}/${o.repository}/attestations/${encodeURIComponent(id)}`,
  };
}
