/** `qcap verify --attestation`: the sigstore bundle of a capsule, checked offline. */
import type { Capsule } from "../capsule/capsule.js";
import { fail } from "../errors.js";
import { MiB, readTextLimited } from "../io/limited-read-node.js";

/** Bundles and trusted roots are small JSON documents. */
const MAX_JSON_BYTES = 16 * MiB;

import { fromHex } from "../hash/hex.js";

export interface AttestationOpts {
  attestation?: string;
  trustedRoot?: string;
  identity?: string;
  issuer?: string;
}

export interface AttestationInputs {
  bundle: unknown;
  trustedRoot?: unknown;
  identity?: string;
  issuer?: string;
}

async function readJson(path: string, what: string): Promise<unknown> {
  const text = await readTextLimited(path, what, MAX_JSON_BYTES);
  try {
    return JSON.parse(text);
  } catch {
    return fail("input", `${what} ${path} is not JSON`);
  }
}

/** Reads the files named by the options, before any capsule work; usage errors for stray options. */
export async function loadAttestationInputs(o: AttestationOpts): Promise<AttestationInputs | undefined> {
  if (!o.attestation) {
    if (o.trustedRoot || o.identity || o.issuer)
      fail("usage", "--trusted-root, --identity and --issuer need --attestation BUNDLE");
    return undefined;
  }
  return {
    bundle: await readJson(o.attestation, "attestation bundle"),
    ...(o.trustedRoot ? { trustedRoot: await readJson(o.trustedRoot, "trusted root") } : {}),
    ...(o.identity ? { identity: o.identity } : {}),
    ...(o.issuer ? { issuer: o.issuer } : {}),
  };
}

export interface AttestationSummary {
  mode: "keyless" | "key";
  sha256: string;
  identity?: string;
  issuer?: string;
  publicKey?: string;
  timestamps?: string[];
}

/**
 * Verifies the attestation against a capsule already verified: key-signed bundles with the
 * `--trust` keys, or the capsule's own (signed) issuer when none is pinned.
 */
export async function checkAttestation(
  inputs: AttestationInputs,
  capsule: Capsule,
  trust: Uint8Array[],
): Promise<AttestationSummary> {
  // Loaded on demand: the sigstore libraries are not needed by any other command.
  const { sha256Source, verifyAttestation } = await import("../attest/verify-node.js");
  const sha256 = await sha256Source(capsule.source);
  const trustedKeys = trust.length > 0 ? trust : [fromHex(capsule.manifest.issuer, 32, "issuer")];
  const r = verifyAttestation(inputs.bundle, {
    capsule: { sha256, root: capsule.manifest.root },
    trustedKeys,
    ...(inputs.trustedRoot !== undefined ? { trustedRoot: inputs.trustedRoot } : {}),
    ...(inputs.identity ? { identity: inputs.identity } : {}),
    ...(inputs.issuer ? { issuer: inputs.issuer } : {}),
  });
  return r.mode === "keyless"
    ? { mode: r.mode, sha256, identity: r.identity, issuer: r.issuer, timestamps: r.timestamps }
    : { mode: r.mode, sha256, publicKey: r.publicKey };
}
