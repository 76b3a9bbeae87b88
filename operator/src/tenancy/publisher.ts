/**
 * Reading a Capsule's publisher and what it holds (the signing key and destination credentials). These
 * are read with the operator's own permissions: they are set up by an administrator, and only after the
 * Capsule's ServiceAccount was found allowed to use the publisher (policy.ts).
 */
import { loadKeyMaterial, QcapError, type SigningKey } from "@qcap/core";
import { clusterPublisherPath, publisherPath } from "../api/paths.js";
import type { PublisherObject } from "../api/publisher.js";
import { pickKey, readS3Credentials, readSecret, type S3Credentials } from "../capsule/refs.js";
import { isNotFound, type KubeClient } from "../kube/client.js";
import { ReconcileError } from "../kube/conditions.js";
import { describeRef, type PublisherRef } from "./policy.js";

export interface ResolvedPublisher {
  publisher: PublisherObject;
  /** How conditions name it. */
  label: string;
  /** Where its Secrets are. */
  secretNamespace: string;
}

export async function getPublisher(
  kube: KubeClient,
  ref: PublisherRef,
  namespace: string,
  clusterResourceNamespace: string,
): Promise<ResolvedPublisher> {
  const label = describeRef(ref, namespace);
  const path =
    ref.kind === "ClusterPublisher" ? clusterPublisherPath(ref.name) : publisherPath(namespace, ref.name);
  try {
    const publisher = await kube.get<PublisherObject>(path);
    return {
      publisher,
      label,
      secretNamespace: ref.kind === "ClusterPublisher" ? clusterResourceNamespace : namespace,
    };
  } catch (err) {
    if (isNotFound(err)) throw new ReconcileError("PublisherNotFound", `${label} not found`);
    throw err;
  }
}

export interface SigningMaterial {
  signingKey: SigningKey;
  /** X25519 identities in the same Secret (a Q-Cap key file), and their recipients. */
  identities: Uint8Array[];
  recipients: Uint8Array[];
}

/** The publisher's signing key (and identity, for a Q-Cap key file). */
export async function loadSigningMaterial(kube: KubeClient, p: ResolvedPublisher): Promise<SigningMaterial> {
  const ref = p.publisher.spec.signingKeySecretRef;
  const keyName = ref.key ?? "signing.key";
  const data = await readSecret(kube, p.secretNamespace, ref.name);
  const keyText = pickKey(data, keyName, "Secret", ref.name).toString("utf8");
  try {
    const material = loadKeyMaterial(keyText);
    if (!material.signing) {
      throw new QcapError("input", "no Ed25519 signing key in it (an age identity alone cannot sign)");
    }
    return { signingKey: material.signing, identities: material.identities, recipients: material.recipients };
  } catch (err) {
    // Core's messages never quote the key text.
    const why = err instanceof QcapError ? err.message : "unreadable";
    throw new ReconcileError(
      "InvalidSigningKey",
      `${p.label}: Secret "${ref.name}" key "${keyName}": ${why}`,
      true,
    );
  }
}

export function destinationCredentials(kube: KubeClient, p: ResolvedPublisher): Promise<S3Credentials> {
  return readS3Credentials(kube, p.secretNamespace, p.publisher.spec.destination.credentialsSecretRef.name);
}
