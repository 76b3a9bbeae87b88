// Sigstore TrustedRoot (protobuf-specs JSON form) from the local Fulcio CA and TSA chains.
import { createHash, createPublicKey, X509Certificate } from "node:crypto";

/**
 * Checkpoint origin of a Rekor log (its `--hostname`): the host name of its URL. sigstore-go expects
 * exactly that name; sigstore-js finds the log whose base URL contains it.
 */
export const rekorOrigin = (baseUrl) => new URL(baseUrl).hostname;

/** The trusted root's entry for a CT log (TesseraCT): its ECDSA P-256 key, log id SHA-256 of the key's SPKI. */
export function ctLog(baseUrl, privateKeyPem, start = new Date(Date.now() - 60_000)) {
  return rekorLog(baseUrl, privateKeyPem, start);
}

/**
 * The trusted root's entry for a Rekor v2 log: its ECDSA P-256 public key, and as log id the SHA-256 of
 * that key's SubjectPublicKeyInfo (what rekor-tiles puts in every entry for an ECDSA key).
 */
export function rekorLog(baseUrl, privateKeyPem, start = new Date(Date.now() - 60_000)) {
  const spki = createPublicKey(privateKeyPem).export({ type: "spki", format: "der" });
  return {
    baseUrl,
    hashAlgorithm: "SHA2_256",
    publicKey: {
      rawBytes: spki.toString("base64"),
      keyDetails: "PKIX_ECDSA_P256_SHA_256",
      validFor: { start: start.toISOString() },
    },
    logId: { keyId: createHash("sha256").update(spki).digest("base64") },
  };
}

/** Splits a PEM bundle into PEM certificates. */
export function splitPem(pem) {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * The trusted root's DistinguishedName of a CA: organization and commonName, both required by
 * sigstore-python's trust-root model. Fulcio's ephemeral CA has no CN (only O=sigstore): `fallback` names it.
 */
export function subjectOf(cert, fallback) {
  const out = {};
  for (const line of cert.subject.split("\n")) {
    const [k, ...rest] = line.split("=");
    const v = rest.join("=");
    if (k === "O" && !out.organization) out.organization = v;
    if (k === "CN" && !out.commonName) out.commonName = v;
  }
  return {
    organization: out.organization || fallback.organization,
    commonName: out.commonName || fallback.commonName,
  };
}

/**
 * One CertificateAuthority entry: `pems` ordered leaf (or intermediate) first, root last.
 * validFor.start is the earliest notBefore of the chain.
 */
export function certificateAuthority(
  uri,
  pems,
  fallbackSubject = { organization: "qcap-testenv", commonName: uri },
) {
  const certs = pems.map((p) => new X509Certificate(p));
  if (certs.length === 0) throw new Error(`empty certificate chain from ${uri}`);
  const start = new Date(Math.min(...certs.map((c) => Date.parse(c.validFrom))));
  const root = certs[certs.length - 1];
  return {
    subject: subjectOf(root, fallbackSubject),
    uri,
    certChain: { certificates: certs.map((c) => ({ rawBytes: c.raw.toString("base64") })) },
    validFor: { start: start.toISOString() },
  };
}

export function trustedRoot({ fulcioUrl, fulcioChain, tsaUrl, tsaChain, tlogs = [], ctlogs = [] }) {
  return {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs,
    certificateAuthorities: [
      certificateAuthority(fulcioUrl, fulcioChain, { organization: "qcap-testenv", commonName: "fulcio" }),
    ],
    ctlogs,
    timestampAuthorities: [
      certificateAuthority(tsaUrl, tsaChain, {
        organization: "qcap-testenv",
        commonName: "timestamp-authority",
      }),
    ],
  };
}
