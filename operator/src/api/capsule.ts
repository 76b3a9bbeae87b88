/** The Capsule resource: what to pack, who can open it, and the publisher that signs and publishes it. */

import {
  AGE_RECIPIENT_PATTERN,
  conditions,
  dataKey,
  duration,
  keyRef,
  type ObjectMeta,
  objectName,
  observedGeneration,
  secretRef,
} from "./common.js";
import { bucket, s3Endpoint } from "./publisher.js";
import {
  anyJson,
  array,
  boolean,
  enumOf,
  type Infer,
  integer,
  map,
  object,
  optional,
  string,
} from "./schema.js";

const exactlyOne = (fields: string[], message: string) => ({
  rule: `[${fields.map((f) => `has(self.${f})`).join(", ")}].filter(x, x).size() == 1`,
  message,
});

/** A folder inside the capsule (relative, `/`-separated). */
const folder = string({
  description: "Folder inside the capsule where the source's files go (default: the top).",
  pattern: "^[^/\\\\]+(/[^/\\\\]+)*$",
  maxLength: 512,
});

export const sourceSchema = object(
  {
    configMap: optional(
      object(
        {
          name: objectName("Name of the ConfigMap, in the Capsule's namespace."),
          keys: optional(array(dataKey("A key of the ConfigMap."), { maxItems: 256 })),
        },
        { description: "Each key of the ConfigMap (or only `keys`) becomes a file named after the key." },
      ),
    ),
    secret: optional(
      object(
        {
          name: objectName("Name of the Secret, in the Capsule's namespace."),
          keys: optional(array(dataKey("A key of the Secret."), { maxItems: 256 })),
        },
        {
          description:
            "Like configMap, for a Secret. Read as the Capsule's ServiceAccount: whoever cannot get the Secret cannot pack it.",
        },
      ),
    ),
    inline: optional(
      map(string({ maxLength: 262144 }), {
        description: "Files given inline: file name -> UTF-8 content.",
        maxProperties: 64,
      }),
    ),
    s3: optional(
      object(
        {
          endpoint: s3Endpoint,
          region: optional(string({ maxLength: 64 })),
          bucket,
          key: optional(string({ description: "One object.", minLength: 1, maxLength: 1024 })),
          prefix: optional(
            string({
              description: "Every object under this prefix (paths kept relative to it).",
              maxLength: 1024,
            }),
          ),
          credentialsSecretRef: secretRef(
            "Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, read as the Capsule's ServiceAccount.",
          ),
        },
        {
          description:
            "Objects in S3, at an endpoint and bucket the publisher's policy allows (spec.sources.s3 of the Publisher).",
          "x-kubernetes-validations": [
            exactlyOne(["key", "prefix"], "s3: set exactly one of key and prefix"),
          ],
        },
      ),
    ),
    http: optional(
      object(
        {
          url: string({
            description:
              "http(s) URL. Redirects are followed (at most 5, never from https to http), each checked like the URL.",
            pattern: "^https?://[^\\s]+$",
            maxLength: 4096,
          }),
          sha256: string({
            description: "SHA-256 of the content (64 lowercase hex digits); a mismatch fails the reconcile.",
            pattern: "^[0-9a-f]{64}$",
          }),
          name: optional(
            string({ description: "File name (default: the URL's last path segment).", maxLength: 255 }),
          ),
        },
        {
          description:
            "A file fetched over HTTP(S), pinned by its digest. The publisher must allow http sources and list the URL's host (and every redirect's) in sources.http.allowedHosts; on top of that, the operator refuses to connect to loopback, link-local (cloud metadata), private (RFC 1918), CGNAT (100.64.0.0/10), unique-local (fc00::/7), unspecified (0.0.0.0, ::), multicast and other special-purpose addresses (IPv4-mapped and NAT64/6to4 forms included), the API server's address and the networks of its --http-source-deny flag, checked on the address it connects to after DNS resolution, unless its --http-source-allow flag admits the host or network. Every failure to fetch reads \"source could not be fetched\"; a mismatch never shows the fetched content's digest.",
        },
      ),
    ),
    path: optional(folder),
    into: optional(
      enumOf(["payload", "meta"] as const, {
        description: "payload (default: encrypted when sealed) or meta (public metadata, never encrypted).",
      }),
    ),
  },
  {
    description: "One source of files. Set exactly one of configMap, secret, inline, s3, http.",
    "x-kubernetes-validations": [
      exactlyOne(
        ["configMap", "secret", "inline", "s3", "http"],
        "set exactly one of configMap, secret, inline, s3, http",
      ),
    ],
  },
);

export const recipientSchema = object(
  {
    key: optional(
      string({ description: "An age X25519 recipient (age1…).", pattern: AGE_RECIPIENT_PATTERN }),
    ),
    configMapKeyRef: optional(
      keyRef("ConfigMap", "Recipients (one per line, # comments) in a ConfigMap key."),
    ),
    secretKeyRef: optional(keyRef("Secret", "Recipients (one per line, # comments) in a Secret key.")),
  },
  {
    description: "Who can open the capsule. Set exactly one of key, configMapKeyRef, secretKeyRef.",
    "x-kubernetes-validations": [
      exactlyOne(
        ["key", "configMapKeyRef", "secretKeyRef"],
        "set exactly one of key, configMapKeyRef, secretKeyRef",
      ),
    ],
  },
);

export const capsuleSpecSchema = object(
  {
    publisherRef: object(
      {
        kind: optional(
          enumOf(["Publisher", "ClusterPublisher"] as const, {
            description: "Publisher (in this namespace, the default) or ClusterPublisher.",
            default: "Publisher",
          }),
        ),
        name: objectName("Name of the Publisher or ClusterPublisher."),
      },
      {
        description:
          "Who signs and where it is published: the publisher holds the signing key, the destination and its credentials. Needs the verb use on it (publishers or clusterpublishers, qcap.dev), for the user at admission and for the ServiceAccount at reconcile time.",
      },
    ),
    serviceAccountName: optional(
      objectName(
        "ServiceAccount (in this namespace) whose permissions read the sources and recipients and are checked for use of the publisher (default: the operator's --default-service-account, qcap). Naming one needs the verb impersonate on it.",
      ),
    ),
    sources: array(sourceSchema, { description: "Where the files come from.", maxItems: 64 }),
    recipients: optional(
      array(recipientSchema, {
        description: "Who can open the payload. None: the capsule is signed but not encrypted.",
        maxItems: 256,
      }),
    ),
    meta: optional(
      map(anyJson(), {
        description:
          "Public metadata (e.g. a STAC item): file name under meta/ -> JSON value (a string is written as is).",
        maxProperties: 64,
      }),
    ),
    hideNames: optional(boolean({ description: "Hide payload file names (sealed capsules only)." })),
    interval: optional(duration("How often to re-check the sources (default 10m).", "10m")),
    suspend: optional(boolean({ description: "Stop reconciling (nothing is published or deleted)." })),
    deletionPolicy: optional(
      enumOf(["Retain", "Delete"] as const, {
        description: "On deletion of the Capsule: Retain the published objects (default) or Delete them.",
        default: "Retain",
      }),
    ),
    grantPolicy: optional(
      object(
        {
          audiences: optional(
            array(
              string({ description: "An age X25519 recipient (age1…).", pattern: AGE_RECIPIENT_PATTERN }),
              { description: "The only audiences grants may be minted for (default: any).", maxItems: 256 },
            ),
          ),
          maxDuration: optional(duration("Longest lifetime of a minted grant (default: no limit).")),
          paths: optional(
            array(string({ minLength: 1, maxLength: 1024 }), {
              description:
                "The only path globs grants may name (each grant path must be one of these); a grant for all paths is then refused.",
              maxItems: 64,
            }),
          ),
        },
        {
          description:
            "Limits on the CapabilityGrants of this Capsule, enforced by the operator when it mints them (on top of the verb grant).",
        },
      ),
    ),
  },
  {
    "x-kubernetes-validations": [
      {
        rule: "!(has(self.hideNames) && self.hideNames) || (has(self.recipients) && size(self.recipients) > 0)",
        message: "hideNames needs at least one recipient",
      },
    ],
  },
);

export const artifactSchema = object({
  url: string({ description: "Where the capsule can be downloaded." }),
  key: string({ description: "Object key in the destination bucket." }),
  revision: string({ description: "sha256 digest of the inputs that produced this capsule." }),
  root: string({ description: "Merkle root of the capsule (signed in its manifest)." }),
  digest: string({ description: "sha256:<hex> of the capsule file." }),
  size: integer({ description: "Size of the capsule file in bytes.", format: "int64" }),
  lastUpdateTime: string({ format: "date-time" }),
});

export const capsuleStatusSchema = object({
  observedGeneration: optional(observedGeneration),
  conditions: optional(conditions),
  artifact: optional(artifactSchema),
  inputsDigest: optional(string({ description: "sha256 of everything the capsule is made from." })),
});

export type CapsuleSpec = Infer<typeof capsuleSpecSchema>;
export type CapsuleStatus = Infer<typeof capsuleStatusSchema>;
export type CapsuleSource = Infer<typeof sourceSchema>;
export type CapsuleRecipient = Infer<typeof recipientSchema>;
export type Artifact = Infer<typeof artifactSchema>;

export interface CapsuleObject {
  apiVersion: string;
  kind: "Capsule";
  metadata: ObjectMeta;
  spec: CapsuleSpec;
  status?: CapsuleStatus;
}
