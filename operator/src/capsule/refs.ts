/** Reading the Secrets and ConfigMaps a spec refers to, with errors that name what is missing. */

import { isForbidden, isNotFound, type KubeClient, type KubeObject, paths } from "../kube/client.js";
import { ReconcileError } from "../kube/conditions.js";

/** "ServiceAccount "ns/name"" for an impersonating client (how a refusal names who was refused). */
function actor(kube: KubeClient): string {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(kube.impersonating ?? "");
  return m ? `ServiceAccount "${m[1]}/${m[2]}"` : (kube.impersonating ?? "the operator");
}

/** A read refused by RBAC: permanent until someone changes the permissions (no retry storm). */
const forbidden = (kube: KubeClient, kind: string, name: string, namespace: string) =>
  new ReconcileError(
    "Forbidden",
    `${actor(kube)} cannot get ${kind} "${name}" in namespace "${namespace}"`,
    true,
  );

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}
interface ConfigMapObject extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** The data of a Secret, decoded. */
export async function readSecret(
  kube: KubeClient,
  namespace: string,
  name: string,
): Promise<Map<string, Buffer>> {
  let s: SecretObject;
  try {
    s = await kube.get<SecretObject>(paths.secret(namespace, name));
  } catch (err) {
    if (isNotFound(err))
      throw new ReconcileError("SecretNotFound", `Secret "${name}" not found in namespace "${namespace}"`);
    if (isForbidden(err)) throw forbidden(kube, "Secret", name, namespace);
    throw err;
  }
  return new Map(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]));
}

/** The data of a ConfigMap (text and binary keys), as bytes. */
export async function readConfigMap(
  kube: KubeClient,
  namespace: string,
  name: string,
): Promise<Map<string, Buffer>> {
  let c: ConfigMapObject;
  try {
    c = await kube.get<ConfigMapObject>(paths.configMap(namespace, name));
  } catch (err) {
    if (isNotFound(err))
      throw new ReconcileError(
        "ConfigMapNotFound",
        `ConfigMap "${name}" not found in namespace "${namespace}"`,
      );
    if (isForbidden(err)) throw forbidden(kube, "ConfigMap", name, namespace);
    throw err;
  }
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(c.data ?? {})) out.set(k, Buffer.from(v, "utf8"));
  for (const [k, v] of Object.entries(c.binaryData ?? {})) out.set(k, Buffer.from(v, "base64"));
  return out;
}

export function pickKey(data: Map<string, Buffer>, key: string, kind: string, name: string): Buffer {
  const v = data.get(key);
  if (!v) throw new ReconcileError(`${kind}KeyNotFound`, `${kind} "${name}" has no key "${key}"`);
  return v;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** S3 credentials from a Secret: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or accessKeyId / secretAccessKey). */
export async function readS3Credentials(
  kube: KubeClient,
  namespace: string,
  name: string,
): Promise<S3Credentials> {
  const data = await readSecret(kube, namespace, name);
  const get = (...keys: string[]) => {
    for (const k of keys) {
      const v = data.get(k)?.toString("utf8").trim();
      if (v) return v;
    }
    return undefined;
  };
  const accessKeyId = get("AWS_ACCESS_KEY_ID", "accessKeyId", "access-key-id");
  const secretAccessKey = get("AWS_SECRET_ACCESS_KEY", "secretAccessKey", "secret-access-key");
  if (!accessKeyId || !secretAccessKey) {
    throw new ReconcileError(
      "InvalidCredentials",
      `Secret "${name}" must have AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
      true,
    );
  }
  return { accessKeyId, secretAccessKey, sessionToken: get("AWS_SESSION_TOKEN", "sessionToken") };
}
