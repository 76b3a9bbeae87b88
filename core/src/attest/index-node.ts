/** Attestations of capsules (Node only): in-toto statements signed into sigstore bundles, and their verification. */
export {
  GITHUB_WORKFLOW_BUILD_TYPE,
  type GitHubRun,
  githubProvenance,
  githubRunFromClaims,
  githubRunFromEnv,
  idTokenClaims,
  workflowPath,
} from "./provenance.js";
export {
  type KeylessOptions,
  type KeyOptions,
  type SignOptions,
  signStatement,
} from "./sign-node.js";
export {
  buildStatement,
  type CapsuleSubject,
  checkSubject,
  parseStatement,
  type ResourceDescriptor,
  SLSA_PROVENANCE_V1,
  type Statement,
  subjectRoot,
} from "./statement.js";
export {
  type AttestationResult,
  certificateIdentity,
  parseBundle,
  sha256Source,
  type VerifyAttestationOptions,
  verifyAttestation,
} from "./verify-node.js";
