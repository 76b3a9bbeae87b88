/** The grant side of `open`, `cat`, `verify` and `inspect`: --cap, --revocations, --purpose, cap.json. */
import { x25519 } from "@noble/curves/ed25519.js";
import type { Capsule } from "../capsule.js";
import { kid } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { type CheckedGrant, checkGrant, describeGrant, grantEntryKeys, parseGrant } from "../grant/grant.js";
import { parseRevocationList, verifyRevocationList } from "../grant/revocation.js";
import { formatRfc3339 } from "../grant/time.js";
import { startsWithBrace } from "../io/limited-read-node.js";
import type { EntryKeys } from "../unlock.js";
import { loadRevocations, MAX_GRANT_BYTES, readGrant } from "./grant-io.js";
import { loadIdentities, readText } from "./keys.js";
import { now, print, printJson } from "./output.js";

export interface GrantUseOpts {
  cap?: string;
  identity?: string[];
  revocations?: string;
  purpose?: string;
}

/**
 * Entry keys from a grant: checked against the capsule, the clock, the revocation list and the
 * identity (the one whose key id is the grant's audience, else the first, for a precise refusal).
 * `names` holds only the granted entries.
 */
export async function grantKeys(
  capsule: Capsule,
  o: GrantUseOpts & { cap: string },
): Promise<{ keys: EntryKeys; names: Map<string, string>; checked: CheckedGrant }> {
  if (!capsule.sealed) fail("usage", "the capsule is not sealed: it needs no grant");
  const grant = await readGrant(o.cap);
  const t = now();
  const revocations = o.revocations
    ? await loadRevocations(o.revocations, capsule.manifest.issuer, t)
    : undefined;
  const identities = await loadIdentities(o.identity ?? [], true);
  const aud = describeGrant(grant).audience;
  const identity = identities.find((s) => kid(x25519.getPublicKey(s)) === aud) ?? identities[0];
  const checked = checkGrant(grant, {
    now: t,
    capsule,
    ...(identity ? { identity } : {}),
    ...(revocations ? { revocations } : {}),
    ...(o.purpose !== undefined ? { purpose: o.purpose } : {}),
  });
  const entries = checked.entries ?? [];
  if (checked.effective.allow !== "read") {
    fail("unauthorized", "the grant allows inspect only: it holds no keys to read with");
  }
  return {
    keys: grantEntryKeys(grant, entries),
    names: new Map(entries.map((e) => [e.entry, e.name])),
    checked,
  };
}

/** `verify --cap/--revocations`: the grant's or list's status against a verified capsule. */
export async function verifyGrantParts(capsule: Capsule, o: GrantUseOpts) {
  const t = now();
  const revocations = o.revocations
    ? await loadRevocations(o.revocations, capsule.manifest.issuer, t)
    : undefined;
  const out: Record<string, unknown> = {};
  if (revocations) {
    out.revocations = {
      sequence: revocations.sequence,
      issuedAt: revocations.issuedAt,
      nextUpdate: revocations.nextUpdate,
      revoked: revocations.revoked.length,
    };
  }
  if (o.cap) {
    if (!capsule.sealed) fail("usage", "the capsule is not sealed: it needs no grant");
    const grant = await readGrant(o.cap);
    const c = checkGrant(grant, {
      now: t,
      capsule,
      ...(revocations ? { revocations } : {}),
      ...(o.purpose !== undefined ? { purpose: o.purpose } : {}),
    });
    out.grant = {
      id: c.id,
      audience: c.effective.audience,
      allow: c.effective.allow,
      expires: c.effective.expires !== null ? formatRfc3339(c.effective.expires) : null,
      paths: c.effective.paths,
      attenuated: c.appended > 0,
    };
  }
  return out;
}

export function printGrantParts(parts: Record<string, unknown>): void {
  const r = parts.revocations as { sequence: number; nextUpdate: string; revoked: number } | undefined;
  if (r)
    print(`revocation list OK: sequence ${r.sequence}, ${r.revoked} revoked, next update ${r.nextUpdate}`);
  const g = parts.grant as { id: string; audience: string; expires: string | null } | undefined;
  if (g) print(`grant OK: ${g.id} for ${g.audience}, expires ${g.expires ?? "never"}`);
}

/**
 * `inspect` of a local JSON file: a grant (caveats, audience, expiry, paths, id; no secret) or a
 * revocation list. Returns false when the file is neither, so the caller inspects a capsule.
 */
export async function inspectJsonFile(location: string, o: { json?: boolean }): Promise<boolean> {
  if (/^https?:\/\//i.test(location)) return false;
  if (!(await startsWithBrace(location))) return false;
  const text = await readText(location, "file", MAX_GRANT_BYTES);
  let type: unknown;
  try {
    type = (JSON.parse(text) as { type?: unknown }).type;
  } catch {
    return fail("input", `${location} is not valid JSON`);
  }
  if (type === "qcap-grant") {
    const d = describeGrant(parseGrant(text));
    if (o.json) {
      printJson(d);
      return true;
    }
    print(`grant     ${d.id}`);
    print(`issuer    ${d.issuer} (fingerprint ${d.issuerFingerprint})`);
    print(`capsule   root ${d.capsule}, id ${d.capsuleId}`);
    print(
      `audience  ${d.audience ?? "?"}${d.keysFor !== d.audience ? ` (keys wrapped to ${d.keysFor})` : ""}`,
    );
    print(`allow     ${d.allow ?? "?"}`);
    print(`expires   ${d.expires ?? "never"}`);
    print(`paths     ${d.paths.length > 0 ? d.paths.join(" ∩ ") : "all payload"}`);
    if (d.purpose) print(`purpose   ${d.purpose}`);
    print(`entries   ${d.entriesGranted} granted by the issuer`);
    print(
      `caveats   ${d.caveats.length} (${d.issuerCaveats} signed by the issuer, ${d.caveats.length - d.issuerCaveats} appended)`,
    );
    for (const c of d.caveats) print(`  ${c}`);
    if (d.problem) print(`problem   ${d.problem}`);
    print("(not checked: run 'qcap verify CAPSULE --cap FILE' or open it)");
    return true;
  }
  if (type === "qcap-revocations") {
    const list = parseRevocationList(text);
    let signature = "valid";
    try {
      verifyRevocationList(list, { issuer: list.issuer, now: Date.parse(list.issuedAt) });
    } catch (e) {
      signature = `INVALID: ${(e as Error).message}`;
    }
    const info = { ...list, signatureStatus: signature };
    if (o.json) {
      printJson(info);
      return true;
    }
    print(`revocation list of ${list.issuer} (signature ${signature})`);
    print(`sequence ${list.sequence}, issued ${list.issuedAt}, next update ${list.nextUpdate}`);
    for (const r of list.revoked) print(`  ${r.id}  ${r.time}  ${r.reason}`);
    return true;
  }
  return fail("input", `${location} is JSON but neither a grant nor a revocation list`);
}
