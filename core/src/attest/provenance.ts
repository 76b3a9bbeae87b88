/**
 * SLSA provenance v1 predicates from a GitHub Actions run, field for field as actions/attest-build-provenance
 * writes them (build type https://actions.github.io/buildtypes/workflow/v1), so tools reading GitHub's
 * attestations read ours. Like that action, the facts come from the run's OIDC ID token claims: they are what
 * Fulcio puts in the certificate, and only they name the reusable workflow that really ran (`job_workflow_ref`).
 */
import { fail } from "../errors.js";

export const GITHUB_WORKFLOW_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1";

/** The facts of a workflow run that a provenance statement records. */
export interface GitHubRun {
  serverUrl: string;
  /** `owner/repo` */
  repository: string;
  repositoryId: string;
  repositoryOwnerId: string;
  /** e.g. `refs/heads/main`, `refs/tags/v1.2.0` */
  ref: string;
  /** commit SHA */
  sha: string;
  /** The top-level workflow: `owner/repo/.github/workflows/release.yml@refs/heads/main` */
  workflowRef: string;
  /** The workflow whose job runs (a reusable workflow when there is one): the certificate's identity. */
  jobWorkflowRef: string;
  runId: string;
  runAttempt: string;
  eventName: string;
  runnerEnvironment: string;
  /** `public`, `private` or `internal` when known. */
  visibility?: string;
}

/** Claims that actions/attest requires of the ID token (its REQUIRED_CLAIMS). */
const REQUIRED_CLAIMS = [
  "ref",
  "sha",
  "repository",
  "event_name",
  "job_workflow_ref",
  "workflow_ref",
  "repository_id",
  "repository_owner_id",
  "runner_environment",
  "run_id",
  "run_attempt",
] as const;

const MAX_TOKEN_LENGTH = 64 * 1024;

/**
 * The claims of a JWT, decoded without checking its signature: the token is the one handed to Fulcio,
 * which checks it and copies the same claims into the certificate. Messages never repeat the token.
 */
export function idTokenClaims(token: string): Record<string, unknown> {
  if (token.length > MAX_TOKEN_LENGTH) fail("input", "the OIDC token is too long");
  const part = token.split(".")[1];
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(part ?? "", "base64url").toString("utf8"));
  } catch {
    return fail("input", "the OIDC token is not a JWT");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims))
    fail("input", "the OIDC token is not a JWT");
  return claims as Record<string, unknown>;
}

/** The run as the ID token's claims describe it; "input" error naming the claims that are missing. */
export function githubRunFromClaims(
  claims: Record<string, unknown>,
  serverUrl = "https://github.com",
): GitHubRun {
  const str = (name: string) => {
    const v = claims[name];
    return typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined;
  };
  const missing = REQUIRED_CLAIMS.filter((c) => !str(c));
  if (missing.length) fail("input", `the OIDC token lacks the claims ${missing.join(", ")}`);
  const need = (name: (typeof REQUIRED_CLAIMS)[number]) => str(name) as string;
  const visibility = str("repository_visibility");
  return {
    serverUrl: serverUrl.replace(/\/+$/, ""),
    repository: need("repository"),
    repositoryId: need("repository_id"),
    repositoryOwnerId: need("repository_owner_id"),
    ref: need("ref"),
    sha: need("sha"),
    workflowRef: need("workflow_ref"),
    jobWorkflowRef: need("job_workflow_ref"),
    runId: need("run_id"),
    runAttempt: need("run_attempt"),
    eventName: need("event_name"),
    runnerEnvironment: need("runner_environment"),
    ...(visibility ? { visibility } : {}),
  };
}

/**
 * The run from the variables GitHub sets for every step, for runs without an ID token (key mode). The
 * variables do not name a reusable workflow: the builder is then the top-level workflow.
 */
export function githubRunFromEnv(env: Record<string, string | undefined>): GitHubRun {
  const need = (name: string): string => {
    const v = env[name];
    if (!v) fail("input", `${name} is not set: attestations are made inside a GitHub Actions run`);
    return v;
  };
  const workflowRef = need("GITHUB_WORKFLOW_REF");
  return {
    serverUrl: (env.GITHUB_SERVER_URL || "https://github.com").replace(/\/+$/, ""),
    repository: need("GITHUB_REPOSITORY"),
    repositoryId: env.GITHUB_REPOSITORY_ID ?? "",
    repositoryOwnerId: env.GITHUB_REPOSITORY_OWNER_ID ?? "",
    ref: need("GITHUB_REF"),
    sha: need("GITHUB_SHA"),
    workflowRef,
    jobWorkflowRef: workflowRef,
    runId: need("GITHUB_RUN_ID"),
    runAttempt: env.GITHUB_RUN_ATTEMPT || "1",
    eventName: env.GITHUB_EVENT_NAME ?? "",
    runnerEnvironment: env.RUNNER_ENVIRONMENT ?? "",
  };
}

/**
 * The workflow file's path in its repository: `workflow_ref` without the `owner/repo/` prefix and cut at the
 * first `@` (a path holds none; a ref such as `refs/tags/widget@1.2.3` may).
 */
export function workflowPath(run: Pick<GitHubRun, "repository" | "workflowRef">): string {
  const prefix = `${run.repository}/`;
  const rest = run.workflowRef.startsWith(prefix) ? run.workflowRef.slice(prefix.length) : run.workflowRef;
  const at = rest.indexOf("@");
  return at >= 0 ? rest.slice(0, at) : rest;
}

/** The SLSA provenance v1 predicate of a run, as actions/attest-build-provenance builds it. */
export function githubProvenance(run: GitHubRun): Record<string, unknown> {
  const repoUrl = `${run.serverUrl}/${run.repository}`;
  return {
    buildDefinition: {
      buildType: GITHUB_WORKFLOW_BUILD_TYPE,
      externalParameters: {
        workflow: { ref: run.ref, repository: repoUrl, path: workflowPath(run) },
      },
      internalParameters: {
        github: {
          event_name: run.eventName,
          repository_id: run.repositoryId,
          repository_owner_id: run.repositoryOwnerId,
          runner_environment: run.runnerEnvironment,
        },
      },
      resolvedDependencies: [{ uri: `git+${repoUrl}@${run.ref}`, digest: { gitCommit: run.sha } }],
    },
    runDetails: {
      builder: { id: `${run.serverUrl}/${run.jobWorkflowRef}` },
      metadata: {
        invocationId: `${repoUrl}/actions/runs/${run.runId}/attempts/${run.runAttempt}`,
      },
    },
  };
}
