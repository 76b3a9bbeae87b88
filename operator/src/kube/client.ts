/**
 * Kubernetes API access: @kubernetes/client-node loads the configuration (kubeconfig or in-cluster
 * service account) and authenticates; REST calls go through `request`, which sends and returns plain
 * JSON so objects keep exactly the shape the API server gives (no client-side re-serialisation of
 * times or quantities).
 */

import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";

export class KubeError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "KubeError";
  }
}

export const isNotFound = (e: unknown) => e instanceof KubeError && e.status === 404;
export const isForbidden = (e: unknown) => e instanceof KubeError && e.status === 403;
export const isConflict = (e: unknown) => e instanceof KubeError && e.status === 409;
export const isAlreadyExists = (e: unknown) =>
  e instanceof KubeError && e.status === 409 && e.reason === "AlreadyExists";

export function loadKubeConfig(kubeconfig?: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (context) kc.setCurrentContext(context);
  if (!kc.getCurrentCluster()) throw new Error("no cluster in the Kubernetes configuration");
  return kc;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    ownerReferences?: OwnerReference[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export class KubeClient {
  readonly server: string;
  /**
   * @param impersonating the user every request acts as (Impersonate-User), e.g. a ServiceAccount's
   * `system:serviceaccount:<ns>:<name>`; the API server then adds that account's groups and authorizes
   * the request as it, after checking that this client may impersonate it.
   */
  constructor(
    readonly kc: KubeConfig,
    readonly impersonating?: string,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("no cluster in the Kubernetes configuration");
    this.server = cluster.server.replace(/\/+$/, "");
  }

  /** A client whose requests act as `user` (never with this client's own permissions). */
  as(user: string): KubeClient {
    return new KubeClient(this.kc, user);
  }

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
    timeoutMs = 30_000,
  ): Promise<T> {
    const url = new URL(this.server + path);
    const opts: RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: { accept: "application/json" },
    };
    await this.kc.applyToHTTPSOptions(opts);
    if (this.impersonating) (opts.headers as Record<string, string>)["impersonate-user"] = this.impersonating;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) (opts.headers as Record<string, string>)["content-type"] = contentType;
    const send = url.protocol === "http:" ? httpRequest : httpsRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          if (status >= 200 && status < 300) return resolve(json as T);
          const s = json as { reason?: string; message?: string } | undefined;
          reject(
            new KubeError(
              status,
              s?.reason ?? "Unknown",
              s?.message ?? `HTTP ${status} from ${method} ${path}`,
            ),
          );
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: ${method} ${path}`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  get<T = KubeObject>(path: string) {
    return this.request<T>("GET", path);
  }
  create<T = KubeObject>(path: string, obj: unknown) {
    return this.request<T>("POST", path, obj);
  }
  replace<T = KubeObject>(path: string, obj: unknown) {
    return this.request<T>("PUT", path, obj);
  }
  mergePatch<T = KubeObject>(path: string, patch: unknown) {
    return this.request<T>("PATCH", path, patch, "application/merge-patch+json");
  }
  delete(path: string) {
    return this.request("DELETE", path);
  }
}

/** Paths of the resources the operator uses. */
export const paths = {
  namespaced(group: string, version: string, plural: string, namespace?: string, name?: string) {
    const base = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
    const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
    return `${base}${ns}/${plural}${name ? `/${encodeURIComponent(name)}` : ""}`;
  },
  secret: (ns: string, name?: string) => paths.namespaced("", "v1", "secrets", ns, name),
  configMap: (ns: string, name?: string) => paths.namespaced("", "v1", "configmaps", ns, name),
  event: (ns: string) => paths.namespaced("", "v1", "events", ns),
  lease: (ns: string, name?: string) => paths.namespaced("coordination.k8s.io", "v1", "leases", ns, name),
};
