/**
 * Offline verification of capsule attestations (sigstore bundles) with @sigstore/verify: the
 * signature, the certificate chain to a given TrustedRoot and its timestamps, the signer's identity
 * and issuer (keyless) or the signing key (key mode), then the statement's subject against the capsule.
 */
import { createHash, createPublicKey, timingSafeEqual } from "node:crypto";
import { type Bundle, bundleFromJSON, isBundleWithDsseEnvelope } from "@sigstore/bundle";
import { RFC3161Timestamp, X509Certificate } from "@sigstore/core";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { toSignedEntity, toTrustMaterial, Verifier } from "@sigstore/verify";
import { fail, QcapError } from "../errors.js";
import { toHex } from "../hash/hex.js";
import type { RangeSource } from "../io/source.js";
import { publicKeyToPem } from "../keys/ed25519.js";
import { preAuthEncoding } from "./rekor-v2.js";
import { keyHint, legacyKeyHint } from "./sign-node.js";
import { checkSubject, INTOTO_PAYLOAD_TYPE, parseStatement, type Statement } from "./statement.js";

export interface VerifyAttestationOptions {
  /** The capsule's file SHA-256 and Merkle root (hex). */
  capsule: { sha256: string; root: string };
  /** Keyless bundles: the sigstore TrustedRoot (parsed JSON) holding the Fulcio and TSA chains. */
  trustedRoot?: unknown;
  /** Keyless bundles: the exact certificate identity (SAN), e.g. the workflow URI. */
  identity?: string;
  /** Keyless bundles: the exact OIDC issuer recorded in the certificate. */
  issuer?: string;
  /** Key-mode bundles: Ed25519 public keys allowed to have signed. */
  trustedKeys?: Uint8Array[];
}

export type AttestationResult =
  | {
      mode: "keyless";
      identity: string;
      issuer: string;
      /** Times vouched for by the timestamp authorities and logs. */
      timestamps: string[];
      statement: Statement;
    }
  | { mode: "key"; publicKey: string; statement: Statement };

const EMPTY_ROOT = {
  mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/** Parses bundle JSON (any sigstore bundle version); "format" errors name the problem. */
export function parseBundle(json: unknown): Bundle {
  try {
    return bundleFromJSON(json);
  } catch (e) {
    return fail("format", `not a sigstore bundle: ${(e as Error).message}`, e);
  }
}

function parseTrustedRoot(json: unknown): TrustedRoot {
  try {
    const root = TrustedRoot.fromJSON(json);
    if (!root.mediaType.startsWith("application/vnd.dev.sigstore.trustedroot"))
      throw new Error(`media type ${JSON.stringify(root.mediaType)}`);
    return root;
  } catch (e) {
    return fail("input", `not a sigstore TrustedRoot: ${(e as Error).message}`, e);
  }
}

/**
 * The signed entity of a DSSE bundle, as @sigstore/verify checks it. A Rekor v2 log records a DSSE envelope
 * as a `hashedrekord` 0.0.2 entry whose digest is SHA-256 of the envelope's pre-authentication encoding (the
 * bytes the signature covers, which the log checks the signature against; sigstore-python checks the same),
 * while @sigstore/verify 3 compares it with SHA-256 of the bare payload. For such entries the digest is
 * compared with SHA-256(PAE); everything else (inclusion proof, checkpoint, signature) stays the library's.
 */
function signedEntity(bundle: Bundle) {
  const entity = toSignedEntity(bundle);
  const rekorV2 = bundle.verificationMaterial.tlogEntries.some(
    (e) => e.kindVersion?.kind === "hashedrekord" && e.kindVersion?.version === "0.0.2",
  );
  if (!rekorV2 || bundle.content.$case !== "dsseEnvelope") return entity;
  const env = bundle.content.dsseEnvelope;
  const paeDigest = createHash("sha256").update(preAuthEncoding(env.payloadType, env.payload)).digest();
  const inner = entity.signature;
  return {
    ...entity,
    signature: {
      signature: inner.signature,
      compareSignature: (sig: Buffer) => inner.compareSignature(sig),
      compareDigest: (digest: Buffer) =>
        digest.length === paeDigest.length && timingSafeEqual(digest, paeDigest),
      verifySignature: (key: Parameters<typeof inner.verifySignature>[0]) => inner.verifySignature(key),
    },
  };
}

/** Verifies an attestation bundle for a capsule. Any failure is a QcapError ("integrity" or "unauthorized"). */
export function verifyAttestation(bundleJson: unknown, o: VerifyAttestationOptions): AttestationResult {
  const bundle = parseBundle(bundleJson);
  if (!isBundleWithDsseEnvelope(bundle))
    fail("format", "the attestation bundle holds a message signature, not a DSSE envelope");
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== INTOTO_PAYLOAD_TYPE)
    fail("format", `the attestation's payload type is ${envelope.payloadType}, not ${INTOTO_PAYLOAD_TYPE}`);
  if (envelope.signatures.length !== 1) fail("format", "the attestation must carry exactly one signature");

  const material = bundle.verificationMaterial.content;
  let result: AttestationResult;
  try {
    if (material.$case === "publicKey") {
      if (o.identity || o.issuer)
        fail(
          "usage",
          "the attestation is signed with a key, not a certificate: --identity/--issuer do not apply",
        );
      const keys = o.trustedKeys ?? [];
      if (keys.length === 0) fail("usage", "a key-signed attestation needs the issuer's public key");
      const trust = toTrustMaterial(parseTrustedRoot(EMPTY_ROOT), (hint) => {
        const key = keys.find((k) => hint !== "" && (keyHint(k) === hint || legacyKeyHint(k) === hint));
        if (!key)
          fail(
            "unauthorized",
            `the attestation is signed by key ${hint || "(no hint)"}, which is not trusted`,
          );
        return { publicKey: createPublicKey(publicKeyToPem(key)), validFor: () => true };
      });
      const entity = toSignedEntity(bundle);
      // Key mode carries no certificate; a timestamp is optional (none when signed offline).
      new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
      const hint = material.publicKey.hint;
      const signer = keys.find((k) => keyHint(k) === hint || legacyKeyHint(k) === hint);
      result = {
        mode: "key",
        publicKey: signer ? toHex(signer) : hint,
        statement: parseStatement(envelope.payload),
      };
    } else {
      if (o.trustedRoot === undefined)
        fail("usage", "a keyless attestation needs --trusted-root FILE (a sigstore TrustedRoot JSON)");
      if (!o.identity || !o.issuer)
        fail("usage", "a keyless attestation needs the expected --identity and --issuer of its certificate");
      const root = parseTrustedRoot(o.trustedRoot);
      const entity = signedEntity(bundle);
      const verifier = new Verifier(toTrustMaterial(root), {
        // Entries present are always checked; these are the minimum counts. One trusted time (TSA or
        // log) is required to check the short-lived certificate; SCTs only when the root lists CT logs.
        tlogThreshold: 0,
        ctlogThreshold: root.ctlogs.length > 0 ? 1 : 0,
        timestampThreshold: 1,
      });
      const signer = verifier.verify(entity, {
        subjectAlternativeName: o.identity,
        extensions: { issuer: o.issuer },
      });
      result = {
        mode: "keyless",
        identity: signer.identity?.subjectAlternativeName ?? o.identity,
        issuer: signer.identity?.extensions?.issuer ?? o.issuer,
        timestamps: timestampsOf(bundle),
        statement: parseStatement(envelope.payload),
      };
    }
  } catch (e) {
    if (e instanceof QcapError) throw e;
    const err = e as { code?: string; message?: string };
    const kind = err.code === "UNTRUSTED_SIGNER_ERROR" ? "unauthorized" : "integrity";
    return fail(kind, `attestation rejected: ${err.message ?? String(e)}`, e);
  }
  checkSubject(result.statement, o.capsule);
  return result;
}

/** The signed times of a verified bundle: RFC 3161 timestamps and log integration times. */
function timestampsOf(bundle: Bundle): string[] {
  const out: string[] = [];
  for (const t of bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? [])
    out.push(RFC3161Timestamp.parse(Buffer.from(t.signedTimestamp)).signingTime.toISOString());
  // Rekor v2 entries carry no integration time (0): their time comes from the timestamps.
  for (const t of bundle.verificationMaterial.tlogEntries)
    if (Number(t.integratedTime) > 0) out.push(new Date(Number(t.integratedTime) * 1000).toISOString());
  return out;
}

/** SHA-256 of a whole source, read in 4 MiB pieces. */
export async function sha256Source(source: RangeSource): Promise<string> {
  const hash = createHash("sha256");
  const piece = 4 << 20;
  for (let at = 0; at < source.size; at += piece) {
    hash.update(await source.read(at, Math.min(piece, source.size - at)));
  }
  return hash.digest("hex");
}

/**
 * The identity and issuer that a keyless bundle's certificate names (unverified: for reports and
 * "how to verify" hints; `verifyAttestation` is what checks them).
 */
export function certificateIdentity(bundleJson: unknown): { identity: string; issuer: string } | undefined {
  const material = parseBundle(bundleJson).verificationMaterial.content;
  const raw =
    material.$case === "certificate"
      ? material.certificate.rawBytes
      : material.$case === "x509CertificateChain"
        ? material.x509CertificateChain.certificates[0]?.rawBytes
        : undefined;
  if (!raw) return undefined;
  const cert = X509Certificate.parse(Buffer.from(raw));
  const issuer = cert.extension("1.3.6.1.4.1.57264.1.8")?.valueObj.subs?.[0]?.value.toString("ascii");
  const identity = cert.subjectAltName;
  return identity && issuer ? { identity, issuer } : undefined;
}
