/** Schema pieces shared by the CRDs: names, references, durations, conditions. */
import { array, enumOf, integer, object, optional, string } from "./schema.js";

export const GROUP = "qcap.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A Kubernetes object name (DNS subdomain). */
export const objectName = (description: string) =>
  string({ description, pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", maxLength: 253 });

/** A key in a ConfigMap or Secret. */
export const dataKey = (description: string) =>
  string({ description, pattern: "^[-._a-zA-Z0-9]+$", maxLength: 253 });

export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";
export const duration = (description: string, dflt?: string) =>
  string({ description, pattern: DURATION_PATTERN, maxLength: 64, default: dflt });

/** age X25519 recipient: "age1" + 58 Bech32 characters (the checksum is checked by the operator). */
export const AGE_RECIPIENT_PATTERN = "^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$";

export const secretRef = (description: string) =>
  object({ name: objectName("Name of the Secret, in the namespace of this object.") }, { description });

export const keyRef = (kind: "ConfigMap" | "Secret", description: string) =>
  object(
    {
      name: objectName(`Name of the ${kind}, in the namespace of this object.`),
      key: dataKey(`Key in the ${kind}'s data.`),
    },
    { description },
  );

/** kstatus condition (metav1.Condition). */
export const condition = object({
  type: string({ description: "Ready, Reconciling or Stalled.", maxLength: 316 }),
  status: enumOf(["True", "False", "Unknown"] as const),
  reason: string({ description: "One CamelCase word.", maxLength: 1024 }),
  message: string({ description: "Human-readable details.", maxLength: 32768 }),
  lastTransitionTime: string({ format: "date-time" }),
  observedGeneration: optional(integer({ format: "int64", minimum: 0 })),
});

export const conditions = array(condition, {
  description: "Ready, Reconciling and Stalled, following kstatus conventions.",
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
});

export const observedGeneration = integer({
  description: "The metadata.generation that the status describes.",
  format: "int64",
});

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
}
