/**
 * Who a Capsule or CapabilityGrant acts as, and what that identity may do. The operator never reads a
 * tenant's ConfigMaps or Secrets with its own permissions: it impersonates the ServiceAccount the object
 * names (or the namespace's default one), and asks the API server (SelfSubjectAccessReview, made as that
 * ServiceAccount) before using a publisher or minting a grant.
 */
import { isForbidden, type KubeClient } from "../kube/client.js";
import { ReconcileError } from "../kube/conditions.js";

export const GROUP = "qcap.dev";
export const DEFAULT_SERVICE_ACCOUNT = "qcap";

export interface AccessAttributes {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
}

/** Answers whether the identity behind it may do something. */
export type AccessCheck = (attrs: AccessAttributes) => Promise<boolean>;

export const serviceAccountUser = (namespace: string, name: string) =>
  `system:serviceaccount:${namespace}:${name}`;

/** The ServiceAccount an object acts as: its own spec.serviceAccountName, else the default. */
export function actingServiceAccount(
  obj: { metadata: { namespace: string }; spec: { serviceAccountName?: string } },
  defaultServiceAccount: string,
): { namespace: string; name: string; user: string } {
  const name = obj.spec.serviceAccountName || defaultServiceAccount;
  const namespace = obj.metadata.namespace;
  return { namespace, name, user: serviceAccountUser(namespace, name) };
}

interface SelfSubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean };
}

/** An AccessCheck answered by the API server for the identity `kube` acts as. */
export function selfAccessCheck(kube: KubeClient): AccessCheck {
  return async (a) => {
    const review = await kube
      .create<SelfSubjectAccessReview>("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: {
          resourceAttributes: {
            verb: a.verb,
            group: a.group,
            resource: a.resource,
            ...(a.namespace ? { namespace: a.namespace } : {}),
            ...(a.name ? { name: a.name } : {}),
          },
        },
      })
      .catch((err: unknown) => {
        // The operator's own RBAC does not let it act as this account (e.g. the chart's
        // tenancy.serviceAccountNames): nothing is done as it.
        if (isForbidden(err))
          throw new ReconcileError(
            "Forbidden",
            `the operator may not act as ${kube.impersonating ?? "this identity"} (impersonate on serviceaccounts)`,
            true,
          );
        throw err;
      });
    return review.status?.allowed === true && review.status.denied !== true;
  };
}
