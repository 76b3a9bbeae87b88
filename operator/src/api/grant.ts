/** The CapabilityGrant resource: a capability to open (parts of) a Capsule, minted into a Secret. */
import {
  AGE_RECIPIENT_PATTERN,
  conditions,
  duration,
  type ObjectMeta,
  objectName,
  observedGeneration,
} from "./common.js";
import { array, boolean, enumOf, type Infer, object, optional, string } from "./schema.js";

export const grantSpecSchema = object(
  {
    capsuleRef: object(
      { name: objectName("Name of the Capsule.") },
      {
        description:
          "The Capsule (in this namespace) the grant opens. Needs the verb grant on it (capsules, qcap.dev), for the user at admission and for the ServiceAccount at reconcile time.",
      },
    ),
    serviceAccountName: optional(
      objectName(
        "ServiceAccount (in this namespace) whose permission to grant the Capsule the operator checks (default: the operator's --default-service-account, qcap). Naming one needs the verb impersonate on it.",
      ),
    ),
    audience: string({
      description: "The age X25519 recipient (age1…) the grant is for: only its identity can use it.",
      pattern: AGE_RECIPIENT_PATTERN,
    }),
    paths: optional(
      array(string({ minLength: 1, maxLength: 1024 }), {
        description: "Globs of payload paths the grant opens (default: all).",
        maxItems: 64,
      }),
    ),
    allow: optional(enumOf(["read", "inspect"] as const, { description: "read (default) or inspect." })),
    purpose: optional(
      string({ description: "One word, e.g. research.", pattern: "^[a-z0-9][a-z0-9_-]*$", maxLength: 64 }),
    ),
    duration: optional(duration("Lifetime of each minted grant (default 720h); renewed before it ends.")),
    expiresAt: optional(
      string({
        description: "A fixed expiry time (RFC 3339); the grant is not renewed past it.",
        format: "date-time",
      }),
    ),
    renewBefore: optional(duration("Renew this long before expiry (default: a third of the lifetime).")),
    secretName: objectName("Secret (in this namespace) the grant file is written to, key cap.json."),
    secretDeletionPolicy: optional(
      enumOf(["Retain", "Delete"] as const, {
        description: "On deletion of the grant: Delete the Secret (default) or Retain it.",
      }),
    ),
    publish: optional(
      boolean({
        description:
          "Also publish the grant in the Capsule's bucket (grants/<token id>.json); it is sealed to the audience.",
      }),
    ),
    revoked: optional(
      boolean({ description: "Revoke the grant: its token id is added to revocations.json." }),
    ),
    revocationReason: optional(string({ maxLength: 256 })),
  },
  {
    "x-kubernetes-validations": [
      {
        rule: "!(has(self.duration) && has(self.expiresAt))",
        message: "set at most one of duration and expiresAt",
      },
      {
        rule: "!has(oldSelf.revoked) || !oldSelf.revoked || (has(self.revoked) && self.revoked)",
        message: "a revoked grant cannot be un-revoked; create a new one",
      },
    ],
  },
);

export const grantStatusSchema = object({
  observedGeneration: optional(observedGeneration),
  conditions: optional(conditions),
  tokenId: optional(string({ description: "Id of the current token (public; used for revocation)." })),
  notAfter: optional(string({ format: "date-time", description: "Expiry of the current grant." })),
  renewalTime: optional(string({ format: "date-time", description: "When the grant will be renewed." })),
  capsuleRevision: optional(
    string({ description: "Merkle root of the capsule revision the grant was minted for." }),
  ),
  supersededTokens: optional(
    array(
      object({
        id: string({ maxLength: 64 }),
        notAfter: string({ format: "date-time" }),
      }),
      {
        description: "Earlier tokens of this grant that have not expired yet (revoked with it).",
        maxItems: 64,
      },
    ),
  ),
  revokedTokenIds: optional(
    array(string({ maxLength: 64 }), { description: "Token ids of this grant listed in revocations.json." }),
  ),
});

export type GrantSpec = Infer<typeof grantSpecSchema>;
export type GrantStatus = Infer<typeof grantStatusSchema>;

export interface GrantObject {
  apiVersion: string;
  kind: "CapabilityGrant";
  metadata: ObjectMeta;
  spec: GrantSpec;
  status?: GrantStatus;
}
