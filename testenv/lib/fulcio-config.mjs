// Fulcio configuration trusting the local OIDC issuer as a GitHub-Actions-like CI provider.
//
// Fulcio's `github-workflow` issuer type is tied to https://token.actions.githubusercontent.com, but the
// `ci-provider` type with CIProvider "github-workflow" takes the same claim->extension mapping from
// CIIssuerMetadata for any issuer URL. The mapping below is a copy of the `github-workflow` entry of
// fulcio v1.8.8 config/identity/config.yaml (Apache-2.0), so certificates carry the same SAN
// (https://github.com/<job_workflow_ref>) and the same Fulcio OID extensions as real GitHub Actions ones,
// except the issuer extension, which is the local issuer URL.

export const GITHUB_WORKFLOW_METADATA = {
  DefaultTemplateValues: { url: "https://github.com", environment: "" },
  ExtensionTemplates: {
    GithubWorkflowTrigger: "event_name",
    GithubWorkflowSHA: "sha",
    GithubWorkflowName: "workflow",
    GithubWorkflowRepository: "repository",
    GithubWorkflowRef: "ref",
    BuildSignerURI: "{{ .url }}/{{ .job_workflow_ref }}",
    BuildSignerDigest: "job_workflow_sha",
    RunnerEnvironment: "runner_environment",
    SourceRepositoryURI: "{{ .url }}/{{ .repository }}",
    SourceRepositoryDigest: "sha",
    SourceRepositoryRef: "ref",
    SourceRepositoryIdentifier: "repository_id",
    SourceRepositoryOwnerURI: "{{ .url }}/{{ .repository_owner }}",
    SourceRepositoryOwnerIdentifier: "repository_owner_id",
    BuildConfigURI: "{{ .url }}/{{ .workflow_ref }}",
    BuildConfigDigest: "workflow_sha",
    BuildTrigger: "event_name",
    RunInvocationURI: "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}",
    SourceRepositoryVisibilityAtSigning: "repository_visibility",
    DeploymentEnvironment: "environment",
  },
  SubjectAlternativeNameTemplate: "{{ .url }}/{{ .job_workflow_ref }}",
};

export function fulcioConfig(issuerUrl) {
  return {
    OIDCIssuers: {
      [issuerUrl]: {
        IssuerURL: issuerUrl,
        ClientID: "sigstore",
        Type: "ci-provider",
        CIProvider: "github-workflow",
        Description: "qcap testenv local issuer shaped like GitHub Actions",
      },
    },
    CIIssuerMetadata: { "github-workflow": GITHUB_WORKFLOW_METADATA },
  };
}
