/**
 * The one grant check of `open`, `cat` and `verify --cap` (SPEC §11.7): the issuer's signature over
 * the caveats and key commitments, the caveats, capsule, expiry, revocation and purpose; the
 * macaroon chain when the capsule's root key is known (an identity that unlocks the capsule); the
 * audience and the wrapped keys when the audience's identity is given. What could not be checked is
 * listed, never passed over.
 */
import { x25519 } from "@noble/curves/ed25519.js";
import type { Capsule } from "../capsule/capsule.js";
import { unlockMasterKey } from "../capsule/unlock.js";
import { fromHex } from "../crypto/bytes.js";
import { kid } from "../crypto/recipients.js";
import { fail, QcapError } from "../errors.js";
import {
  type CheckedGrant,
  checkGrant,
  checkGrantEntriesHeld,
  describeGrant,
  type Grant,
  grantRootKey,
} from "../grant/grant.js";
import { verifyMacaroonChain } from "../grant/macaroon.js";
import type { RevocationList } from "../grant/revocation.js";

export interface GrantCheck {
  grant: Grant;
  checked: CheckedGrant;
  /** The key id of the identity that opened the wrapped keys, when one did. */
  keysOpenedBy: string | null;
  /** True when the macaroon chain was recomputed from the capsule's root key. */
  chainVerified: boolean;
  /** Each check that was not made, and why. */
  notChecked: string[];
}

export interface GrantCheckOptions {
  /** The grant file, read (and bounded) by the caller before anything else. */
  grant: Grant;
  identities: Uint8Array[];
  now: number;
  revocations?: RevocationList;
  purpose?: string;
}

/** The capsule's macaroon root key, when one of the identities unlocks the capsule; else null. */
async function rootKey(capsule: Capsule, identities: Uint8Array[]): Promise<Uint8Array | null> {
  const seal = capsule.manifest.seal;
  if (!seal || identities.length === 0) return null;
  let master: Uint8Array;
  try {
    master = await unlockMasterKey(capsule, { identities });
  } catch (e) {
    if (e instanceof QcapError && e.kind === "decrypt") return null;
    throw e;
  }
  return grantRootKey(master, fromHex(seal.capsuleId));
}

export async function checkGrantFor(capsule: Capsule, o: GrantCheckOptions): Promise<GrantCheck> {
  if (!capsule.sealed) fail("usage", "the capsule is not sealed: it needs no grant");
  const grant = o.grant;
  const aud = describeGrant(grant).audience;
  const root = await rootKey(capsule, o.identities);
  // The audience's identity opens the keys. Without it, an identity that unlocks the capsule (its
  // issuer's) still checks the chain; any other gets a precise refusal from the audience check.
  const identity =
    o.identities.find((s) => kid(x25519.getPublicKey(s)) === aud) ?? (root ? undefined : o.identities[0]);
  const checked = checkGrant(grant, {
    now: o.now,
    capsule,
    ...(identity ? { identity } : {}),
    ...(o.revocations ? { revocations: o.revocations } : {}),
    ...(o.purpose !== undefined ? { purpose: o.purpose } : {}),
  });
  if (checked.entries) await checkGrantEntriesHeld(capsule, checked.entries);
  const notChecked: string[] = [];
  if (root) {
    if (!verifyMacaroonChain(grant.macaroon, root)) {
      fail(
        "integrity",
        "the grant was tampered with: its macaroon signature does not follow from the capsule's root key",
      );
    }
  } else {
    notChecked.push("macaroon chain: needs an identity that unlocks the capsule (its root key)");
  }
  if (!identity) {
    const why = o.identities.length > 0 ? `no identity of the audience ${aud}` : "no --identity";
    const what =
      checked.appended > 0
        ? `audience, granted keys and the ${checked.appended} appended caveats`
        : "audience and granted keys";
    notChecked.push(`keys not opened: ${why} (${what} unauthenticated)`);
  }
  if (o.revocations === undefined) notChecked.push("revocation: no --revocations list");
  return {
    grant,
    checked,
    keysOpenedBy: identity ? kid(x25519.getPublicKey(identity)) : null,
    chainVerified: root !== null,
    notChecked,
  };
}
