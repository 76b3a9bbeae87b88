/**
 * A Capsule's publishing context: its publisher, the destination S3 client and registry location, and
 * the signing key, all read with the operator's own permissions. Authorization is the caller's
 * (tenancy/policy.ts), before this is used for anything but removing what the Capsule published.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { RegistryLocation } from "@qcap/core/registry";
import type { CapsuleObject } from "../api/capsule.js";
import type { S3Credentials } from "../capsule/refs.js";
import type { KubeClient } from "../kube/client.js";
import { s3Client } from "../s3/client.js";
import { publisherRefOf } from "./policy.js";
import {
  destinationCredentials,
  getPublisher,
  loadSigningMaterial,
  type ResolvedPublisher,
  type SigningMaterial,
} from "./publisher.js";

export interface Destination {
  client: S3Client;
  loc: RegistryLocation;
  /** Folder of this capsule's artifacts: "<prefix>/<namespace>/<name>/". */
  folder: string;
  credentials: S3Credentials;
  /** How public URLs of objects are made (the publisher's destination). */
  target: { endpoint?: string; region?: string; bucket: string; publicURL?: string };
}

export interface Publishing {
  publisher: ResolvedPublisher;
  dest: Destination;
  signing: () => Promise<SigningMaterial>;
}

export async function resolvePublishing(
  kube: KubeClient,
  capsule: CapsuleObject,
  clusterResourceNamespace: string,
  /** Aborts the destination client's requests (the reconcile was abandoned). */
  signal?: AbortSignal,
): Promise<Publishing> {
  const { namespace, name } = capsule.metadata;
  const publisher = await getPublisher(
    kube,
    publisherRefOf(capsule.spec),
    namespace,
    clusterResourceNamespace,
  );
  const d = publisher.publisher.spec.destination;
  const credentials = await destinationCredentials(kube, publisher);
  const client = s3Client({
    endpoint: d.endpoint,
    region: d.region,
    forcePathStyle: d.forcePathStyle,
    ...credentials,
    signal,
  });
  const prefix = d.prefix ?? "";
  const folder = `${[prefix, namespace, name].filter(Boolean).join("/")}/`;
  return {
    publisher,
    dest: { client, loc: { client, bucket: d.bucket, prefix }, folder, credentials, target: d },
    signing: () => loadSigningMaterial(kube, publisher),
  };
}
