/**
 * Signing attestation statements into sigstore bundles (v0.3, DSSE envelope), with @sigstore/sign:
 * keyless (a Fulcio certificate for an OIDC identity, an RFC 3161 timestamp, optionally a Rekor entry)
 * or with the capsule's Ed25519 signing key (public-key hint, no network at all).
 */
import { createHash, createPublicKey } from "node:crypto";
import { bundleToJSON, type SerializedBundle } from "@sigstore/bundle";
import {
  DSSEBundleBuilder,
  FulcioSigner,
  RekorWitness,
  type Signature,
  type Signer,
  TSAWitness,
  type Witness,
} from "@sigstore/sign";
import type { SigningKey } from "../capsule/pack.js";
import { fail, QcapError } from "../errors.js";
import { toHex } from "../hash/hex.js";
import { publicKeyToPem, sign } from "../keys/ed25519.js";
import { RekorV2Witness } from "./rekor-v2.js";
import { INTOTO_PAYLOAD_TYPE, type Statement } from "./statement.js";

export const DEFAULT_FULCIO_URL = "https://fulcio.sigstore.dev";
export const DEFAULT_TSA_URL = "https://timestamp.sigstore.dev";

export interface KeylessOptions {
  mode: "keyless";
  /** Returns the OIDC ID token (audience `sigstore`) whose identity the certificate will carry. */
  identityToken: () => Promise<string>;
  fulcioUrl?: string;
  tsaUrl?: string;
  /** Also record the signature in this Rekor transparency log. */
  rekorUrl?: string;
  /** Rekor's API: 1 (rekor.sigstore.dev, a `dsse` entry) or 2 (rekor-tiles logs). Default 1. */
  rekorApiVersion?: 1 | 2;
  /** Per-request timeout in milliseconds (default 30 s). */
  timeout?: number;
  /** Retries of failed requests (default 2). */
  retries?: number;
}

export interface KeyOptions {
  mode: "key";
  signingKey: SigningKey;
}

export type SignOptions = KeylessOptions | KeyOptions;

/** The public-key hint of a key-signed bundle: the SHA-256 of the key's SubjectPublicKeyInfo, in hex. */
export const keyHint = (publicKey: Uint8Array): string =>
  createHash("sha256")
    .update(createPublicKey(publicKeyToPem(publicKey)).export({ type: "spki", format: "der" }))
    .digest("hex");

/** The hint that bundles made before `keyHint` carried: the raw Ed25519 public key in hex. */
export const legacyKeyHint = (publicKey: Uint8Array): string => toHex(publicKey);

/** An @sigstore/sign Signer over a Q-Cap Ed25519 key. */
function ed25519Signer(key: SigningKey): Signer {
  return {
    async sign(data: Buffer): Promise<Signature> {
      return {
        signature: Buffer.from(sign(key.seed, data)),
        key: { $case: "publicKey", publicKey: publicKeyToPem(key.publicKey), hint: keyHint(key.publicKey) },
      };
    },
  };
}

/** A readable reason from @sigstore/sign errors, which wrap HTTP and network failures in `cause`. */
function reason(e: unknown): string {
  const parts: string[] = [];
  let x: unknown = e;
  for (let depth = 0; x && depth < 4; depth++) {
    const err = x as { message?: string; code?: string; cause?: unknown };
    // IDENTITY_TOKEN_PARSE_ERROR messages embed the token itself: never repeat them.
    if (err.code === "IDENTITY_TOKEN_PARSE_ERROR") {
      parts.push("the OIDC token is not a JWT");
      break;
    }
    if (err.message && !parts.some((p) => p.includes(err.message as string))) parts.push(err.message);
    else if (typeof err.code === "string" && !/^[A-Z_]+_ERROR$/.test(err.code)) parts.push(err.code);
    x = err.cause;
  }
  return parts.join(": ") || String(e);
}

const origin = (url: string) => {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return fail("usage", `not a URL: ${url}`);
  }
};

/**
 * Writes the log-entry fields that protobuf JSON leaves out at their default value (index 0 and an empty
 * proof path, as the first entries of a log have): sigstore-python requires them to be present.
 */
function withExplicitDefaults(bundle: SerializedBundle): SerializedBundle {
  for (const entry of bundle.verificationMaterial.tlogEntries ?? []) {
    entry.logIndex ??= "0";
    if (entry.inclusionProof) {
      entry.inclusionProof.logIndex ??= "0";
      entry.inclusionProof.hashes ??= [];
    }
  }
  return bundle;
}

/**
 * Signs `statement` and returns the sigstore bundle as JSON. Failures of the signing services are
 * QcapError "input" naming the service (Fulcio, the TSA, Rekor) and the reason.
 */
export async function signStatement(statement: Statement, options: SignOptions): Promise<SerializedBundle> {
  const artifact = {
    data: Buffer.from(JSON.stringify(statement)),
    type: INTOTO_PAYLOAD_TYPE,
  };
  if (options.mode === "key") {
    const builder = new DSSEBundleBuilder({ signer: ed25519Signer(options.signingKey), witnesses: [] });
    const bundle = bundleToJSON(await builder.create(artifact));
    // The DSSE keyid stays empty (it is not signed): Go's DSSE verifiers (cosign, sigstore-go) count a
    // signature only when its keyid is empty or the id they compute for the key, and cosign 2.6 computes
    // none that matches for an Ed25519 key. The bundle's public-key hint names the key.
    for (const sig of bundle.dsseEnvelope?.signatures ?? []) sig.keyid = "";
    return bundle;
  }

  const fetchOptions = { timeout: options.timeout ?? 30_000, retry: options.retries ?? 2 };
  const fulcioUrl = options.fulcioUrl || DEFAULT_FULCIO_URL;
  // A trusted time for the short-lived certificate: a timestamp, a log entry, or both. Without
  // either, the public-good timestamp authority.
  const tsaUrl = options.tsaUrl || (options.rekorUrl ? undefined : DEFAULT_TSA_URL);
  origin(fulcioUrl);
  if (tsaUrl) origin(tsaUrl);
  if (options.rekorUrl) origin(options.rekorUrl);

  let token: string;
  try {
    token = await options.identityToken();
  } catch (e) {
    if (e instanceof QcapError) throw e;
    return fail("input", `cannot get an OIDC identity token: ${reason(e)}`, e);
  }
  const signer = new FulcioSigner({
    fulcioBaseURL: fulcioUrl,
    identityProvider: { getToken: async () => token },
    ...fetchOptions,
  });
  const witnesses: Witness[] = [];
  if (tsaUrl) witnesses.push(new TSAWitness({ tsaBaseURL: tsaUrl, ...fetchOptions }));
  if (options.rekorUrl)
    witnesses.push(
      options.rekorApiVersion === 2
        ? new RekorV2Witness({ rekorBaseURL: options.rekorUrl, ...fetchOptions })
        : new RekorWitness({ rekorBaseURL: options.rekorUrl, entryType: "dsse", ...fetchOptions }),
    );
  const builder = new DSSEBundleBuilder({ signer, witnesses, certificateChain: false });
  try {
    return withExplicitDefaults(bundleToJSON(await builder.create(artifact)));
  } catch (e) {
    const code = (e as { code?: string }).code ?? "";
    const service = code.startsWith("CA_")
      ? `Fulcio at ${origin(fulcioUrl)}`
      : code.startsWith("TSA_")
        ? `the timestamp authority at ${origin(tsaUrl ?? "")}`
        : code.startsWith("TLOG_")
          ? `Rekor at ${origin(options.rekorUrl ?? "")}`
          : "the signing services";
    return fail("input", `signing with ${service} failed: ${reason(e)}`, e);
  }
}
