/**
 * SLSA provenance v1 predicates from a GitHub Actions run, in the shape of GitHub's own build type
 * (https://actions.github.io/buildtypes/workflow/v1) so that tools reading GitHub attestations read ours.
 */
import { fail } from "../errors.js";

export const GITHUB_WORKFLOW_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1";

/** The facts of a workflow run that a provenance statement records. */
export interface GitHubRun {
  serverUrl: string;
  /** `owner/repo` */
  repository: string;
  repositoryId?: string;
  repositoryOwnerId?: string;
  /** e.g. `refs/heads/main`, `refs/tags/v1.2.0` */
  ref: string;
  /** commit SHA */
  sha: string;
  /** workflow name */
  workflow?: string;
  /** `owner/repo/.github/workflows/release.yml@refs/heads/main` */
  workflowRef: string;
  runId: string;
  runAttempt: string;
  eventName?: string;
  runner: { environment?: string; os?: string; arch?: string; name?: string };
}

/** Reads the run from the variables GitHub sets for every step; "input" error when one is missing. */
export function githubRunFromEnv(env: Record<string, string | undefined>): GitHubRun {
  const need = (name: string): string => {
    const v = env[name];
    if (!v) fail("input", `${name} is not set: attestations are made inside a GitHub Actions run`);
    return v;
  };
  const opt = (name: string) => env[name] || undefined;
  return {
    serverUrl: (env.GITHUB_SERVER_URL || "https://github.com").replace(/\/+$/, ""),
    repository: need("GITHUB_REPOSITORY"),
    repositoryId: opt("GITHUB_REPOSITORY_ID"),
    repositoryOwnerId: opt("GITHUB_REPOSITORY_OWNER_ID"),
    ref: need("GITHUB_REF"),
    sha: need("GITHUB_SHA"),
    workflow: opt("GITHUB_WORKFLOW"),
    workflowRef: need("GITHUB_WORKFLOW_REF"),
    runId: need("GITHUB_RUN_ID"),
    runAttempt: env.GITHUB_RUN_ATTEMPT || "1",
    eventName: opt("GITHUB_EVENT_NAME"),
    runner: {
      environment: opt("RUNNER_ENVIRONMENT"),
      os: opt("RUNNER_OS"),
      arch: opt("RUNNER_ARCH"),
      name: opt("RUNNER_NAME"),
    },
  };
}

/** Drops undefined members so the JSON holds only what is known. */
const defined = <T extends Record<string, unknown>>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** The SLSA provenance v1 predicate of a run. */
export function githubProvenance(run: GitHubRun): Record<string, unknown> {
  // workflowRef is "<owner>/<repo>/<path>@<ref>"; the path is what follows the repository.
  const at = run.workflowRef.lastIndexOf("@");
  const workflowPath = (at > 0 ? run.workflowRef.slice(0, at) : run.workflowRef).startsWith(
    `${run.repository}/`,
  )
    ? run.workflowRef.slice(run.repository.length + 1, at > 0 ? at : undefined)
    : run.workflowRef;
  const repoUrl = `${run.serverUrl}/${run.repository}`;
  return {
    buildDefinition: {
      buildType: GITHUB_WORKFLOW_BUILD_TYPE,
      externalParameters: {
        workflow: { ref: run.ref, repository: repoUrl, path: workflowPath },
      },
      internalParameters: {
        github: defined({
          event_name: run.eventName,
          repository_id: run.repositoryId,
          repository_owner_id: run.repositoryOwnerId,
          runner_environment: run.runner.environment,
          workflow: run.workflow,
          runner: defined({ os: run.runner.os, arch: run.runner.arch, name: run.runner.name }),
        }),
      },
      resolvedDependencies: [{ uri: `git+${repoUrl}@${run.ref}`, digest: { gitCommit: run.sha } }],
    },
    runDetails: {
      builder: { id: `${run.serverUrl}/${run.workflowRef}` },
      metadata: {
        invocationId: `${repoUrl}/actions/runs/${run.runId}/attempts/${run.runAttempt}`,
      },
    },
  };
}
