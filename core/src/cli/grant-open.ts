/** The grant side of `open`, `cat`, `verify` and `inspect`: --cap, --revocations, --purpose, cap.json. */
import type { Capsule } from "../capsule/capsule.js";
import type { EntryKeys } from "../capsule/unlock.js";
import { fail } from "../errors.js";
import { type CheckedGrant, describeGrant, grantEntryKeys, parseGrant } from "../grant/grant.js";
import { parseRevocationList, verifyRevocationList } from "../grant/revocation.js";
import { formatRfc3339 } from "../grant/time.js";
import { startsWithBrace } from "../io/limited-read-node.js";
import { checkGrantFor } from "./grant-check.js";
import { loadRevocations, MAX_GRANT_BYTES, readGrant } from "./grant-io.js";
import { grantJson } from "./json.js";
import { loadIdentities, readText } from "./keys.js";
import { now, plural, print, printJson } from "./output.js";

export interface GrantUseOpts {
  cap?: string;
  identity?: string[];
  revocations?: string;
  purpose?: string;
}

/**
 * Entry keys from a grant, after the one grant check (grant-check.ts) with the identities given (the
 * default key's when none is). `names` holds only the granted entries.
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
  const { checked, keysOpenedBy } = await checkGrantFor(capsule, {
    grant,
    identities,
    now: t,
    ...(revocations ? { revocations } : {}),
    ...(o.purpose !== undefined ? { purpose: o.purpose } : {}),
  });
  if (keysOpenedBy === null) {
    fail(
      "unauthorized",
      `the grant is for the audience ${checked.effective.audience}, not for these identities`,
    );
  }
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

/**
 * `verify --cap/--revocations`: the grant's or list's status against a verified capsule. The grant
 * gets the same check as in `open`; without an identity its keys stay closed, and the result says so.
 */
export async function verifyGrantParts(capsule: Capsule, o: GrantUseOpts) {
  const t = now();
  const revocations = o.revocations
    ? await loadRevocations(o.revocations, capsule.manifest.issuer, t)
    : undefined;
  if ((o.identity ?? []).length > 0 && !o.cap)
    fail("usage", "--cap-identity applies to a grant: give --cap FILE");
  const out: Record<string, unknown> = {};
  if (revocations) {
    out.revocations = {
      sequence: revocations.sequence,
      issuedAt: revocations.issuedAt,
      nextUpdate: revocations.nextUpdate,
      revokedCount: revocations.revoked.length,
    };
  }
  if (o.cap) {
    if (!capsule.sealed) fail("usage", "the capsule is not sealed: it needs no grant");
    const grant = await readGrant(o.cap);
    const r = await checkGrantFor(capsule, {
      grant,
      identities: await loadIdentities(o.identity ?? [], false),
      now: t,
      ...(revocations ? { revocations } : {}),
      ...(o.purpose !== undefined ? { purpose: o.purpose } : {}),
    });
    const c = r.checked;
    out.grant = {
      id: c.id,
      audience: c.effective.audience,
      allow: c.effective.allow,
      expires: c.effective.expires !== null ? formatRfc3339(c.effective.expires) : null,
      paths: c.effective.paths,
      attenuated: c.appended > 0,
      verified: r.keysOpenedBy !== null,
      keysOpenedBy: r.keysOpenedBy,
      entryCount: c.entries?.length ?? null,
      chainVerified: r.chainVerified,
      notChecked: r.notChecked,
    };
  }
  return out;
}

export function printGrantParts(parts: Record<string, unknown>): void {
  const r = parts.revocations as { sequence: number; nextUpdate: string; revokedCount: number } | undefined;
  if (r)
    print(
      `revocation list OK: sequence ${r.sequence}, ${r.revokedCount} revoked, next update ${r.nextUpdate}`,
    );
  const g = parts.grant as
    | {
        id: string;
        audience: string;
        expires: string | null;
        verified: boolean;
        entryCount: number | null;
        notChecked: string[];
      }
    | undefined;
  if (!g) return;
  const what = `${g.id} for ${g.audience}, expires ${g.expires ?? "never"}`;
  if (g.verified) print(`grant OK: ${what}, ${plural(g.entryCount ?? 0, "entry", "entries")} unwrapped`);
  else print(`grant NOT fully checked: ${what}`);
  for (const n of g.notChecked) print(`  not checked: ${n}`);
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
      printJson("inspect", { kind: "grant", ...grantJson(d) });
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
      printJson("inspect", { kind: "revocations", ...info });
      return true;
    }
    print(`revocation list of ${list.issuer} (signature ${signature})`);
    print(`sequence ${list.sequence}, issued ${list.issuedAt}, next update ${list.nextUpdate}`);
    for (const r of list.revoked) print(`  ${r.id}  ${r.time}  ${r.reason}`);
    return true;
  }
  return fail("input", `${location} is JSON but neither a grant nor a revocation list`);
}
