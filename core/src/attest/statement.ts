/**
 * Attestation statements for capsules (SPEC "Attestations"): an in-toto Statement v1 whose one
 * subject is the capsule file, named by its SHA-256, with the capsule's Merkle root as a subject
 * annotation, and a SLSA provenance v1 predicate. Pure data: signing and verification are in
 * `sign-node.ts`/`verify-node.ts`.
 */
import { fail } from "../errors.js";

export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
/** DSSE payload type of in-toto statements. */
export const INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
/**
 * Subject annotation holding the capsule's Merkle root (SPEC §3.2). The digest set holds only `sha256`:
 * standard verifiers (sigstore-python) refuse digest algorithms they do not know, and ignore annotations.
 */
export const ROOT_ANNOTATION = "qcapRoot";
/** Where statements made before the annotation carried the root: a `qcapRoot` digest-set key. */
const LEGACY_ROOT_DIGEST_KEY = "qcapRoot";

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

/** What a statement says about one capsule. */
export interface CapsuleSubject {
  /** File name of the capsule (no directories). */
  name: string;
  /** SHA-256 of the capsule file, 64 lowercase hex. */
  sha256: string;
  /** The capsule's Merkle root, 64 lowercase hex. */
  root: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function buildStatement(subject: CapsuleSubject, predicate: Record<string, unknown>): Statement {
  if (!HEX64.test(subject.sha256)) fail("usage", "subject sha256 must be 64 lowercase hex digits");
  if (!HEX64.test(subject.root)) fail("usage", "subject root must be 64 lowercase hex digits");
  if (!subject.name || subject.name.includes("/")) fail("usage", "subject name must be a file name");
  return {
    _type: STATEMENT_TYPE,
    subject: [
      {
        name: subject.name,
        digest: { sha256: subject.sha256 },
        annotations: { [ROOT_ANNOTATION]: subject.root },
      },
    ],
    predicateType: SLSA_PROVENANCE_V1,
    predicate,
  };
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/** Parses a DSSE payload as an in-toto Statement v1; "format" errors for anything else. */
export function parseStatement(payload: Uint8Array): Statement {
  let x: unknown;
  try {
    x = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    return fail("format", "attestation payload is not JSON");
  }
  if (!isObject(x) || x._type !== STATEMENT_TYPE)
    fail("format", `attestation payload is not an in-toto Statement v1 (_type ${STATEMENT_TYPE})`);
  if (!Array.isArray(x.subject) || x.subject.length === 0 || !x.subject.every(isObject))
    fail("format", "attestation statement has no subject");
  if (typeof x.predicateType !== "string") fail("format", "attestation statement has no predicateType");
  return x as unknown as Statement;
}

/** The Merkle root a subject names: its annotation, or the digest-set key of older statements. */
export function subjectRoot(subject: ResourceDescriptor): string | undefined {
  const fromAnnotation = isObject(subject.annotations) ? subject.annotations[ROOT_ANNOTATION] : undefined;
  if (fromAnnotation !== undefined) return typeof fromAnnotation === "string" ? fromAnnotation : "";
  const legacy = isObject(subject.digest) ? subject.digest[LEGACY_ROOT_DIGEST_KEY] : undefined;
  return legacy === undefined ? undefined : String(legacy);
}

/**
 * Checks that one subject names this capsule by its SHA-256 and, when the subject states a Merkle root,
 * by that root too. A subject without a root (a statement made by another tool, such as
 * actions/attest-build-provenance) is bound by the file's SHA-256 alone, which fixes the root as well.
 * Throws QcapError "integrity" naming what differs.
 */
export function checkSubject(statement: Statement, capsule: Pick<CapsuleSubject, "sha256" | "root">) {
  const subjects = statement.subject;
  const sha = (s: ResourceDescriptor) => (isObject(s.digest) ? s.digest.sha256 : undefined);
  const matching = subjects.filter((s) => sha(s) === capsule.sha256);
  if (matching.some((s) => [undefined, capsule.root].includes(subjectRoot(s)))) return;
  if (matching.length > 0)
    fail("integrity", "attestation subject has this capsule's sha256 but a different Merkle root");
  if (subjects.some((s) => subjectRoot(s) === capsule.root))
    fail(
      "integrity",
      "attestation subject names this capsule's Merkle root but a different file sha256 (the file was rewritten)",
    );
  const named = subjects.map((s) => `sha256:${String(sha(s))}`).join(", ");
  fail("integrity", `attestation is for a different capsule (subject ${named})`);
}
