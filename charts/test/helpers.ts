// Helpers of the chart tests: render the chart with helm, parse the manifests, write values files.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { env, run } from "../../testenv/test/helpers.js";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CHART = join(REPO, "charts", "qcap-operator");

/** A Kubernetes object as rendered (loosely typed: tests read fields they know). */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary YAML.
  [field: string]: any;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

const scratch = mkdtempSync(join(tmpdir(), "qcap-chart-test-"));
let seq = 0;

/** Writes a values file for `-f` and returns its path. */
export function valuesFile(values: unknown): string {
  const path = join(scratch, `values-${++seq}.yaml`);
  writeFileSync(path, yaml.dump(values));
  return path;
}

export function helm(args: string[]) {
  return run(env("QCAP_HELM"), args);
}

/** `helm template` for the local API server's version; values as objects (each becomes a `-f` file). */
export async function template(
  opts: {
    release?: string;
    namespace?: string;
    values?: unknown[];
    includeCrds?: boolean;
    set?: string[];
  } = {},
) {
  const args = [
    "template",
    opts.release ?? "qcap",
    CHART,
    "--namespace",
    opts.namespace ?? "qcap-system",
    "--kube-version",
    env("QCAP_KUBE_VERSION"),
  ];
  if (opts.includeCrds) args.push("--include-crds");
  for (const v of opts.values ?? []) args.push("-f", valuesFile(v));
  for (const s of opts.set ?? []) args.push("--set", s);
  return helm(args);
}

/** Renders and parses; fails the test with helm's stderr when rendering fails. */
export async function render(opts: Parameters<typeof template>[0] = {}): Promise<Manifest[]> {
  const r = await template(opts);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseManifests(r.stdout);
}

export function parseManifests(text: string): Manifest[] {
  return yaml.loadAll(text).filter((d): d is Manifest => d !== null && typeof d === "object");
}

export function find(docs: Manifest[], kind: string, name?: string): Manifest[] {
  return docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
}

export function one(docs: Manifest[], kind: string, name?: string): Manifest {
  const found = find(docs, kind, name);
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0] as Manifest;
}

export function toYaml(docs: unknown[]): string {
  return docs.map((d) => yaml.dump(d, { noRefs: true })).join("---\n");
}

/**
 * A request to the API server as `bearer`, on a connection of its own (a watch's connection is never
 * reused); retried while the API server answers 429 (a watch cache that is (re)initialising).
 */
export async function apiAs(bearer: string, method: string, path: string, body?: unknown) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const once = () =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        `${env("QCAP_KUBE_API_URL")}${path}`,
        {
          method,
          agent: false,
          ca: readFileSync(env("QCAP_KUBE_CA")),
          headers: {
            accept: "application/json",
            authorization: `Bearer ${bearer}`,
            ...(payload
              ? { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
          );
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  for (let i = 0; ; i++) {
    const r = await once();
    if (r.status !== 429 || i >= 20) return r;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
