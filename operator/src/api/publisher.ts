/**
 * Publisher and ClusterPublisher: what a cluster administrator sets up once and tenants only refer to
 * (as cert-manager's Issuer and ClusterIssuer). They hold the signing key, the destination and its
 * credentials, and the policy on what Capsules using them may read. Using one needs the verb `use` on
 * it (RBAC), checked at admission and again by the operator for the Capsule's ServiceAccount.
 */
import { dataKey, type ObjectMeta, objectName } from "./common.js";
import { array, boolean, enumOf, type Infer, object, optional, string } from "./schema.js";

export const SOURCE_KINDS = ["configMap", "secret", "inline", "s3", "http"] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];
/** Kinds allowed when a publisher does not say: those read from the Capsule's own namespace. */
export const DEFAULT_SOURCE_KINDS: SourceKind[] = ["configMap", "secret", "inline"];

export const s3Endpoint = string({
  description: "S3 endpoint URL (http or https), e.g. https://s3.eu-central-1.amazonaws.com or a MinIO URL.",
  pattern: "^https?://[^\\s]+$",
  maxLength: 2048,
});
export const bucket = string({
  description: "Bucket name.",
  pattern: "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
  maxLength: 63,
});
export const objectPrefix = string({
  description: "Key prefix (no leading or trailing slash).",
  pattern: "^[^/]+(/[^/]+)*$",
  maxLength: 512,
});

const secretHere = (description: string) =>
  object(
    {
      name: objectName(
        "Name of the Secret: in the Publisher's namespace, or for a ClusterPublisher in the operator's cluster resource namespace.",
      ),
    },
    { description },
  );

export const destinationSchema = object(
  {
    endpoint: optional(s3Endpoint),
    region: optional(string({ description: "Region (default us-east-1).", maxLength: 64 })),
    bucket,
    prefix: optional(objectPrefix),
    forcePathStyle: optional(boolean({ description: "Path-style addressing (default true)." })),
    credentialsSecretRef: secretHere(
      "Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally AWS_SESSION_TOKEN). Read by the operator, never by Capsule authors.",
    ),
    publicURL: optional(
      string({
        description:
          "Public base URL of the prefix (a CDN or website endpoint); default: the endpoint, path style.",
        pattern: "^https?://[^\\s]+$",
        maxLength: 2048,
      }),
    ),
  },
  {
    description:
      "Where capsules and the registry (index.json, index.html, revocations.json) are written. Capsules cannot choose another.",
  },
);

export const sourcePolicySchema = object(
  {
    allowedKinds: optional(
      array(enumOf(SOURCE_KINDS), {
        description:
          "Source kinds Capsules using this publisher may have (default: configMap, secret, inline). ConfigMaps and Secrets are always read as the Capsule's ServiceAccount.",
        maxItems: 5,
        "x-kubernetes-list-type": "set",
      }),
    ),
    s3: optional(
      array(
        object(
          {
            endpoint: s3Endpoint,
            bucket,
            prefix: optional(
              string({
                description: "Only keys under this prefix (default: the whole bucket).",
                maxLength: 1024,
              }),
            ),
          },
          { description: "An S3 location s3 sources may read." },
        ),
        {
          description:
            "The S3 locations s3 sources may read (exact endpoint and bucket); none: no s3 source is allowed. Credentials always come from a Secret read as the Capsule's ServiceAccount.",
          maxItems: 64,
        },
      ),
    ),
    http: optional(
      object(
        {
          allowedHosts: optional(
            array(string({ description: "A host name, or *.domain for its subdomains.", maxLength: 253 }), {
              description:
                "Hosts http sources may fetch from, redirects included (none: no http source is allowed). This only narrows the operator's own egress policy: a listed host that resolves to a loopback, link-local, private or otherwise special-purpose address is still refused unless the operator's --http-source-allow flag admits it.",
              maxItems: 64,
            }),
          ),
        },
        { description: "Egress policy of http sources." },
      ),
    ),
  },
  { description: "What Capsules using this publisher may read." },
);

export const publisherSpecSchema = object({
  signingKeySecretRef: object(
    {
      name: objectName(
        "Name of the Secret: in the Publisher's namespace, or for a ClusterPublisher in the operator's cluster resource namespace.",
      ),
      key: optional(dataKey("Key holding the Ed25519 signing key (default signing.key).")),
    },
    {
      description:
        "Secret with the Ed25519 signing key: a Q-Cap key file (needed to mint grants), a PKCS#8 PEM key or a 64-hex-digit seed. Read by the operator, never by Capsule authors.",
    },
  ),
  destination: destinationSchema,
  sources: optional(sourcePolicySchema),
});

export type PublisherSpec = Infer<typeof publisherSpecSchema>;
export type Destination = Infer<typeof destinationSchema>;
export type SourcePolicy = Infer<typeof sourcePolicySchema>;

export interface PublisherObject {
  apiVersion: string;
  kind: "Publisher" | "ClusterPublisher";
  metadata: Omit<ObjectMeta, "namespace"> & { namespace?: string };
  spec: PublisherSpec;
}
