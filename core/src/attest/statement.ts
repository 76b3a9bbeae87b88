/**
 * Attestation statements for capsules (SPEC "Attestations"): an in-toto Statement v1 whose one
 * subject is the capsule file, named by its SHA-256 and by the capsule's Merkle root, with a SLSA
 * provenance v1 predicate. Pure data: signing and verification are in `sign-node.ts`/`verify-node.ts`.
 */
import { fail } from "../errors.js";

export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
/** DSSE payload type of in-toto statements. */
export const INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
/**
 * Digest-set key of the capsule's Merkle root (SPEC §3.2). Like in-toto's `gitTree` or `dirHash`, it
 * names content through a tree hash; it is not `blake3`, which would claim a BLAKE3 of the file bytes.
 */
export const ROOT_DIGEST_KEY = "qcapRoot";

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
    subject: [{ name: subject.name, digest: { sha256: subject.sha256, [ROOT_DIGEST_KEY]: subject.root } }],
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

/**
 * Checks that one subject names this capsule by both its SHA-256 and its Merkle root. Throws
 * QcapError "integrity" naming what differs.
 */
export function checkSubject(statement: Statement, capsule: Pick<CapsuleSubject, "sha256" | "root">) {
  const digests = statement.subject.map((s) => (isObject(s.digest) ? s.digest : {}));
  if (digests.some((d) => d.sha256 === capsule.sha256 && d[ROOT_DIGEST_KEY] === capsule.root)) return;
  const bySha = digests.some((d) => d.sha256 === capsule.sha256);
  const byRoot = digests.some((d) => d[ROOT_DIGEST_KEY] === capsule.root);
  if (bySha) fail("integrity", "attestation subject has this capsule's sha256 but a different Merkle root");
  if (byRoot)
    fail(
      "integrity",
      "attestation subject names this capsule's Merkle root but a different file sha256 (the file was rewritten)",
    );
  const named = digests.map((d) => `sha256:${String(d.sha256)}`).join(", ");
  fail("integrity", `attestation is for a different capsule (subject ${named})`);
}
