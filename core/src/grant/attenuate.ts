/**
 * Attenuation (SPEC §11.6): a holder narrows a grant offline. Caveats are appended to the macaroon
 * chain (which needs only its current signature) and only the keys of the narrower set of entries
 * are re-wrapped to the new audience. Nothing can be widened: the holder has no other key to give,
 * and caveats combine as earliest expiry, intersection of paths, narrowest allow.
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { utf8 } from "../crypto/bytes.js";
import { kid } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { type Allow, type Caveat, formatCaveat, pathMatcher } from "./caveats.js";
import {
  checkGrant,
  type Grant,
  type GrantEntry,
  keysAad,
  MAX_CAVEATS,
  sealGrantKeys,
  unionGlob,
} from "./grant.js";
import { appendCaveats } from "./macaroon.js";
import type { RevocationList } from "./revocation.js";
import { formatRfc3339 } from "./time.js";

export interface AttenuateOptions {
  /** The current holder's X25519 identity secret (the grant's audience). */
  identity: Uint8Array;
  /** Hand the grant on to this X25519 public key; default: keep the current audience. */
  to?: Uint8Array;
  /** Keep only entries whose real name matches one of these globs. */
  paths?: string[];
  /** An earlier expiry (ms since the epoch). */
  expires?: number;
  allow?: Allow;
  purpose?: string;
  now: number;
  revocations?: RevocationList;
  /** @internal Ephemeral X25519 secret, only for reproducible test vectors. */
  ephemeralSecret?: Uint8Array;
}

/** A narrower grant. Refuses anything that would not narrow, and an invalid, expired or revoked grant. */
export function attenuateGrant(grant: Grant, o: AttenuateOptions): Grant {
  const checked = checkGrant(grant, {
    now: o.now,
    identity: o.identity,
    ...(o.revocations ? { revocations: o.revocations } : {}),
    // Handing a grant on is not using it: its purpose caveat travels with it.
    anyPurpose: true,
  });
  const eff = checked.effective;
  const added: Caveat[] = [];
  const audience = o.to ?? x25519.getPublicKey(o.identity);
  if (o.to && kid(o.to) !== eff.audience) added.push({ kind: "aud", kid: kid(o.to) });
  if (o.allow === "inspect" && eff.allow === "read") added.push({ kind: "allow", allow: "inspect" });
  if (o.allow === "read" && eff.allow === "inspect")
    fail("usage", "the grant allows inspect only: read cannot be added");
  if (o.expires !== undefined) {
    if (o.expires <= o.now) fail("usage", "the expiry is not in the future");
    if (eff.expires !== null && o.expires >= eff.expires) {
      fail(
        "usage",
        `--expires ${formatRfc3339(o.expires)} is not earlier than the grant's expiry ${formatRfc3339(eff.expires)}: attenuation only narrows`,
      );
    }
    added.push({ kind: "expires", time: o.expires });
  }
  if (o.purpose !== undefined) {
    if (eff.purpose !== null && eff.purpose !== o.purpose) {
      fail("usage", `the grant is for the purpose "${eff.purpose}": another purpose cannot be added`);
    }
    if (eff.purpose === null) added.push({ kind: "purpose", word: o.purpose });
  }
  const extraGlob = o.paths && o.paths.length > 0 ? unionGlob(o.paths) : null;
  if (extraGlob !== null) added.push({ kind: "path", glob: extraGlob });
  if (added.length === 0)
    fail("usage", "nothing to narrow: give --to, --paths, --expires, --allow inspect or --purpose");

  const match = pathMatcher(extraGlob !== null ? [extraGlob] : []);
  const inspectOnly = eff.allow === "inspect" || o.allow === "inspect";
  const entries: GrantEntry[] = (checked.entries ?? [])
    .filter((e) => match(e.name))
    .map((e) => (inspectOnly ? { entry: e.entry, name: e.name, tag: e.tag } : e));
  if (entries.length === 0) fail("usage", "no granted entry matches the given paths");

  if (grant.macaroon.caveats.length + added.length > MAX_CAVEATS) {
    fail("usage", `a grant holds at most ${MAX_CAVEATS} caveats: this one cannot be narrowed further`);
  }
  const macaroon = appendCaveats(
    grant.macaroon,
    added.map((c) => utf8(formatCaveat(c))),
  );
  const keys = sealGrantKeys(entries, audience, keysAad(grant.issued, macaroon), o.ephemeralSecret);
  return { macaroon, issued: grant.issued, signature: grant.signature, keys };
}
