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
  DEFAULT_FULCIO_URL,
  DEFAULT_TSA_URL,
  type KeylessOptions,
  type KeyOptions,
  keyHint,
  legacyKeyHint,
  type SignOptions,
  signStatement,
} from "./sign-node.js";
export {
  buildStatement,
  type CapsuleSubject,
  checkSubject,
  INTOTO_PAYLOAD_TYPE,
  parseStatement,
  type ResourceDescriptor,
  ROOT_ANNOTATION,
  SLSA_PROVENANCE_V1,
  STATEMENT_TYPE,
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
