/**
 * The decisions of the tenancy model, as pure functions of the objects and an AccessCheck: may this
 * Capsule use its publisher, may it have these sources, may this grant be minted. The reconcilers act on
 * the answers; the admission policies (charts/qcap-operator/templates/admission-policies.yaml) make the
 * same checks for the requesting user.
 */
import type { CapsuleSource, CapsuleSpec } from "../api/capsule.js";
import { DEFAULT_SOURCE_KINDS, type SourceKind, type SourcePolicy } from "../api/publisher.js";
import { ReconcileError } from "../kube/conditions.js";
import { type AccessCheck, GROUP } from "./access.js";

export interface PublisherRef {
  kind: "Publisher" | "ClusterPublisher";
  name: string;
}

export const publisherRefOf = (spec: Pick<CapsuleSpec, "publisherRef">): PublisherRef => ({
  kind: spec.publisherRef.kind ?? "Publisher",
  name: spec.publisherRef.name,
});

export const describeRef = (ref: PublisherRef, namespace: string) =>
  ref.kind === "ClusterPublisher" ? `ClusterPublisher "${ref.name}"` : `Publisher "${namespace}/${ref.name}"`;

/** Throws Forbidden unless `who` (the acting ServiceAccount) may use the publisher. */
export async function authorizePublisherUse(
  check: AccessCheck,
  who: string,
  ref: PublisherRef,
  namespace: string,
): Promise<void> {
  const allowed = await check({
    verb: "use",
    group: GROUP,
    resource: ref.kind === "ClusterPublisher" ? "clusterpublishers" : "publishers",
    ...(ref.kind === "Publisher" ? { namespace } : {}),
    name: ref.name,
  });
  if (!allowed) {
    throw new ReconcileError(
      "Forbidden",
      `${who} may not use ${describeRef(ref, namespace)} (needs the verb use on ${ref.kind === "ClusterPublisher" ? "clusterpublishers" : "publishers"}.qcap.dev)`,
      true,
    );
  }
}

/** Throws Forbidden unless `who` may mint grants for the Capsule. */
export async function authorizeGrant(
  check: AccessCheck,
  who: string,
  namespace: string,
  capsule: string,
): Promise<void> {
  const allowed = await check({
    verb: "grant",
    group: GROUP,
    resource: "capsules",
    namespace,
    name: capsule,
  });
  if (!allowed) {
    throw new ReconcileError(
      "Forbidden",
      `${who} may not grant Capsule "${capsule}" (needs the verb grant on capsules.qcap.dev)`,
      true,
    );
  }
}

export function sourceKind(src: CapsuleSource): SourceKind | undefined {
  if (src.configMap) return "configMap";
  if (src.secret) return "secret";
  if (src.inline) return "inline";
  if (src.s3) return "s3";
  if (src.http) return "http";
  return undefined;
}

const normalizeEndpoint = (e: string) => e.replace(/\/+$/, "").toLowerCase();

/** True when the policy lists the S3 location (exact endpoint and bucket, key or prefix inside its prefix). */
export function s3Allowed(policy: SourcePolicy | undefined, s3: NonNullable<CapsuleSource["s3"]>): boolean {
  const wanted = s3.key ?? s3.prefix ?? "";
  return (policy?.s3 ?? []).some((p) => {
    if (normalizeEndpoint(p.endpoint) !== normalizeEndpoint(s3.endpoint) || p.bucket !== s3.bucket)
      return false;
    if (!p.prefix) return true;
    const base = p.prefix.replace(/\/+$/, "");
    // Path-segment containment: "data" allows "data" and "data/x", not "database".
    return wanted === base || wanted.startsWith(`${base}/`);
  });
}

/** True when the URL's host is listed: exactly, or under a `*.domain` entry (not the domain itself). */
export function httpHostAllowed(policy: SourcePolicy | undefined, url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase().replace(/\.$/, "");
  } catch {
    return false;
  }
  return (policy?.http?.allowedHosts ?? []).some((entry) => {
    const e = entry.toLowerCase().replace(/\.$/, "");
    if (e.startsWith("*.")) return host.endsWith(e.slice(1)) && host.length > e.length - 1;
    return host === e;
  });
}

/**
 * Throws SourceNotAllowed for the first source the publisher's policy does not allow. Messages name
 * the source's index and kind, never fetched content.
 */
export function checkSourcePolicy(
  policy: SourcePolicy | undefined,
  sources: CapsuleSource[],
  publisher: string,
): void {
  const kinds = policy?.allowedKinds ?? DEFAULT_SOURCE_KINDS;
  for (const [i, src] of sources.entries()) {
    const kind = sourceKind(src);
    if (!kind) throw new ReconcileError("InvalidSpec", `sources[${i}]: no source type set`, true);
    if (!kinds.includes(kind)) {
      throw new ReconcileError(
        "SourceNotAllowed",
        `sources[${i}]: ${publisher} does not allow ${kind} sources (allowed: ${kinds.join(", ")})`,
        true,
      );
    }
    if (src.http && !httpHostAllowed(policy, src.http.url)) {
      throw new ReconcileError(
        "SourceNotAllowed",
        `sources[${i}]: ${publisher} does not allow fetching from ${new URL(src.http.url).host}`,
        true,
      );
    }
    if (src.s3 && !s3Allowed(policy, src.s3)) {
      throw new ReconcileError(
        "SourceNotAllowed",
        `sources[${i}]: ${publisher} does not allow reading s3://${src.s3.bucket}/${src.s3.key ?? src.s3.prefix ?? ""} at ${src.s3.endpoint}`,
        true,
      );
    }
  }
}

const withPayload = (p: string) => (p.startsWith("payload/") ? p : `payload/${p}`);

/**
 * Throws GrantPolicyViolation when a grant goes beyond the Capsule's grant policy: an audience not
 * listed, a lifetime longer than maxDuration, or paths other than the listed globs.
 */
export function checkGrantPolicy(
  policy: CapsuleSpec["grantPolicy"],
  grant: { audience: string; paths?: string[]; lifetimeMs: number },
  capsule: string,
  parseDuration: (d: string) => number,
): void {
  if (!policy) return;
  const refuse = (why: string): never => {
    throw new ReconcileError("GrantPolicyViolation", `the grant policy of Capsule "${capsule}" ${why}`, true);
  };
  if (policy.audiences && !policy.audiences.includes(grant.audience)) refuse("does not list this audience");
  if (policy.maxDuration && grant.lifetimeMs > parseDuration(policy.maxDuration))
    refuse(`allows grants of at most ${policy.maxDuration}`);
  if (policy.paths) {
    const allowed = new Set(policy.paths.map(withPayload));
    if (!grant.paths || grant.paths.length === 0) refuse("does not allow a grant for all paths");
    for (const p of grant.paths ?? [])
      if (!allowed.has(withPayload(p))) refuse(`does not allow the path "${p}"`);
  }
}
