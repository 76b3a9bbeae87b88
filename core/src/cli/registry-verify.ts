/**
 * The full check `publish` runs before uploading and `fetch` before moving a download into place:
 * the signature (and pinned signer, as `verify`) and every stored byte. Only the capsule's public
 * reading surface is used (open, summary, verifyAll), not its manifest.
 */
import { withEngine } from "../engine/create.js";
import { progress } from "./progress.js";
import { openTrusted, type Signer, type TrustOpts } from "./trust.js";

export interface VerifiedCapsule {
  root: string;
  issuer: string;
  sealed: boolean;
  size: number;
  signer: Signer;
  /** Writes the signer line on stderr (once the command succeeded). */
  report: () => void;
}

export async function verifyCapsuleFile(
  path: string,
  o: TrustOpts & { quiet?: boolean },
): Promise<VerifiedCapsule> {
  const { capsule, signer, report } = await openTrusted(path, o);
  try {
    const { root, issuer, sealed, size } = await capsule.summary();
    const bar = progress(`verifying ${path}`, size, !o.quiet);
    await withEngine((engine) => capsule.verifyAll((n) => bar.add(n), engine));
    bar.done();
    return { root, issuer, sealed, size, signer, report };
  } finally {
    await capsule.source.close();
  }
}
