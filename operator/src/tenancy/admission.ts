/**
 * Whether the chart's admission policies are in force: the operator enforces the tenancy rules either
 * way, and says in the Capsule's Ready condition when it is the only one doing so (then a user's refused
 * Capsule is only refused after it was created, and naming a ServiceAccount is not checked for the user).
 */
import type { KubeClient } from "../kube/client.js";

/** Label the chart puts on its ValidatingAdmissionPolicyBindings: what each one enforces. */
export const ENFORCES_LABEL = "qcap.dev/enforces";
const TTL_MS = 60_000;

export type AdmissionState = "enforced" | "absent" | "unknown";

export class AdmissionPolicyProbe {
  private cache = new Map<string, { at: number; state: AdmissionState }>();

  constructor(private readonly kube: KubeClient) {}

  /** Is a binding for `what` ("capsules" or "grants") installed? Cached for a minute. */
  async state(what: "capsules" | "grants"): Promise<AdmissionState> {
    const hit = this.cache.get(what);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.state;
    let state: AdmissionState;
    try {
      const list = await this.kube.get<{ items?: unknown[] }>(
        `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings?labelSelector=${encodeURIComponent(`${ENFORCES_LABEL}=${what}`)}&limit=1`,
      );
      state = (list.items ?? []).length > 0 ? "enforced" : "absent";
    } catch {
      // No permission to look (RBAC managed by hand) or an API server without the API.
      state = "unknown";
    }
    this.cache.set(what, { at: Date.now(), state });
    return state;
  }
}

/** What a Ready condition adds when the operator may be the only check. */
export function admissionNote(state: AdmissionState): string {
  if (state === "enforced") return "";
  return state === "absent"
    ? "; tenancy rules enforced by the operator only (no qcap admission policy installed)"
    : "; tenancy rules enforced by the operator (cannot tell whether the qcap admission policies are installed)";
}
