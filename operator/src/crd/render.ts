/** The CustomResourceDefinitions, built from the schemas in `api/`, and their YAML. */
import yaml from "js-yaml";
import { capsuleSpecSchema, capsuleStatusSchema } from "../api/capsule.js";
import { GROUP, VERSION } from "../api/common.js";
import { grantSpecSchema, grantStatusSchema } from "../api/grant.js";
import { publisherSpecSchema } from "../api/publisher.js";
import type { JsonSchema, Schema } from "../api/schema.js";

interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "date";
  jsonPath: string;
  priority?: number;
  description?: string;
}

interface CrdInput {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: Schema<unknown>;
  /** None: the kind is configuration only (no status subresource). */
  status?: Schema<unknown>;
  columns: PrinterColumn[];
  scope?: "Namespaced" | "Cluster";
}

const readyColumns: PrinterColumn[] = [
  { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  {
    name: "Reason",
    type: "string",
    jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  },
];
const trailingColumns: PrinterColumn[] = [
  {
    name: "Message",
    type: "string",
    priority: 1,
    jsonPath: '.status.conditions[?(@.type=="Ready")].message',
  },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
];

const publisherColumns: PrinterColumn[] = [
  { name: "Bucket", type: "string", jsonPath: ".spec.destination.bucket" },
  { name: "Prefix", type: "string", jsonPath: ".spec.destination.prefix" },
  { name: "Endpoint", type: "string", jsonPath: ".spec.destination.endpoint", priority: 1 },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
];

export const CRDS: CrdInput[] = [
  {
    kind: "Capsule",
    plural: "capsules",
    singular: "capsule",
    shortNames: ["qcap", "qcaps"],
    description: "Files packed, sealed to recipients, signed and published to S3 as a .qcap capsule.",
    spec: capsuleSpecSchema,
    status: capsuleStatusSchema,
    columns: [
      ...readyColumns,
      { name: "Root", type: "string", jsonPath: ".status.artifact.root" },
      { name: "Size", type: "integer", jsonPath: ".status.artifact.size", priority: 1 },
      { name: "URL", type: "string", jsonPath: ".status.artifact.url", priority: 1 },
      ...trailingColumns,
    ],
  },
  {
    kind: "CapabilityGrant",
    plural: "capabilitygrants",
    singular: "capabilitygrant",
    shortNames: ["qgrant", "capgrant"],
    description: "A capability to open some paths of a Capsule, minted for one audience into a Secret.",
    spec: grantSpecSchema,
    status: grantStatusSchema,
    columns: [
      ...readyColumns,
      { name: "Capsule", type: "string", jsonPath: ".spec.capsuleRef.name" },
      { name: "Token", type: "string", jsonPath: ".status.tokenId", priority: 1 },
      { name: "Expires", type: "string", jsonPath: ".status.notAfter" },
      ...trailingColumns,
    ],
  },
];

CRDS.push(
  {
    kind: "Publisher",
    plural: "publishers",
    singular: "publisher",
    shortNames: ["qpub"],
    description:
      "Signing key, destination and source policy of the Capsules in this namespace that refer to it; set up by an administrator. Using it needs the verb use on it.",
    spec: publisherSpecSchema,
    columns: publisherColumns,
  },
  {
    kind: "ClusterPublisher",
    plural: "clusterpublishers",
    singular: "clusterpublisher",
    shortNames: ["qcpub"],
    description:
      "A Publisher for Capsules of any namespace (its Secrets live in the operator's cluster resource namespace). Using it needs the verb use on it.",
    spec: publisherSpecSchema,
    columns: publisherColumns,
    scope: "Cluster",
  },
);

export function crdObject(c: CrdInput) {
  const openAPIV3Schema: JsonSchema = {
    type: "object",
    description: c.description,
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      spec: c.spec.json,
      ...(c.status ? { status: c.status.json } : {}),
    },
    required: ["spec"],
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${c.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: c.kind,
        listKind: `${c.kind}List`,
        plural: c.plural,
        singular: c.singular,
        shortNames: c.shortNames,
      },
      scope: c.scope ?? "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema },
          ...(c.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: c.columns,
        },
      ],
    },
  };
}

const HEADER = "# Generated from operator/src/api by `npm run gen:crds -w operator`. Do not edit.\n";

/** file name (in crds/) -> YAML text. */
export function renderCrds(): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of CRDS) {
    const text = yaml.dump(crdObject(c), { lineWidth: 120, noRefs: true, sortKeys: false });
    out.set(`${GROUP}_${c.plural}.yaml`, `${HEADER}${text}`);
  }
  return out;
}
