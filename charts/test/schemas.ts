// JSON schemas for kubeconform, offline: our kinds from the CRDs in crds/, the built-in kinds from the
// OpenAPI v3 documents of the local API server (kubeconform's default schemas are downloaded from the
// internet). Written as <dir>/<group>/<kind>_<version>.json (core group: <dir>/v1/<kind>_v1.json, as
// kubeconform's {{ .Group }} is the version for apiVersion v1),
// i.e. `-schema-location '<dir>/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'`, and
// made strict (unknown fields are errors, as with the API server's strict field validation).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { env, kubeApi } from "../../testenv/test/helpers.js";
import type { Manifest } from "./helpers.js";

type Schema = { [k: string]: unknown };

export const schemaLocation = (dir: string) =>
  join(dir, "{{ .Group }}", "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json");

function write(dir: string, group: string, kind: string, version: string, schema: Schema) {
  const d = join(dir, group || version);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, `${kind.toLowerCase()}_${version}.json`), JSON.stringify(schema));
}

/**
 * Structural CRD schema -> JSON schema: int-or-string and preserve-unknown-fields become what they
 * mean, `nullable` allows null, and objects with listed properties reject unknown ones.
 */
export function crdToJsonSchema(node: unknown, root = true): unknown {
  if (Array.isArray(node)) return node.map((n) => crdToJsonSchema(n, false));
  if (!node || typeof node !== "object") return node;
  const src = node as Schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === "x-kubernetes-validations") continue; // CEL: checked by the API server only
    if (k === "properties" || k === "patternProperties")
      out[k] = Object.fromEntries(
        Object.entries(v as Schema).map(([p, s]) => [p, crdToJsonSchema(s, false)]),
      );
    else if (k === "items" || k === "additionalProperties" || k === "not")
      out[k] = typeof v === "boolean" ? v : crdToJsonSchema(v, false);
    else if (k === "allOf" || k === "anyOf" || k === "oneOf") out[k] = crdToJsonSchema(v, false);
    else out[k] = v;
  }
  if (src["x-kubernetes-int-or-string"]) {
    delete out.type;
    out.oneOf = [{ type: "integer" }, { type: "string" }];
  }
  if (src.nullable === true && typeof out.type === "string") out.type = [out.type, "null"];
  if (
    src.type === "object" &&
    src.properties &&
    !src.additionalProperties &&
    !src["x-kubernetes-preserve-unknown-fields"]
  )
    out.additionalProperties = false;
  if (root) {
    // Every object has apiVersion, kind and metadata even when the CRD schema does not list them.
    const props = (out.properties ?? {}) as Schema;
    out.properties = {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      ...props,
    };
  }
  return out;
}

/** Writes the schema of each version of each CRD; returns "<group>/<version>/<Kind>" names. */
export function writeCrdSchemas(dir: string, crds: Manifest[]): string[] {
  const written: string[] = [];
  for (const crd of crds) {
    const { group, names, versions } = crd.spec as {
      group: string;
      names: { kind: string };
      versions: { name: string; schema: { openAPIV3Schema: unknown } }[];
    };
    for (const v of versions) {
      write(dir, group, names.kind, v.name, crdToJsonSchema(v.schema.openAPIV3Schema) as Schema);
      written.push(`${group}/${v.name}/${names.kind}`);
    }
  }
  return written;
}

/** Built-in schema (OpenAPI v3 of a group version) -> JSON schema with strict objects. */
function strictify(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictify);
  if (!node || typeof node !== "object") return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node as Schema))
    out[k] = k === "properties" ? strictProps(v as Schema) : strictify(v);
  if (out.type === "object" && out.properties && out.additionalProperties === undefined)
    out.additionalProperties = false;
  return out;
}
const strictProps = (p: Schema) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, strictify(v)]));

/**
 * Downloads /openapi/v3/<groupVersion> from the local API server for each listed apiVersion and writes
 * one schema per kind (the kind's schema with the whole components section, so $refs resolve).
 */
export async function writeBuiltinSchemas(dir: string, apiVersions: string[]): Promise<string[]> {
  const written: string[] = [];
  for (const apiVersion of apiVersions) {
    const path = apiVersion.includes("/")
      ? `/openapi/v3/apis/${apiVersion}`
      : `/openapi/v3/api/${apiVersion}`;
    const res = await kubeApi("GET", path, env("QCAP_KUBE_ADMIN_TOKEN"));
    if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
    const doc = res.json() as { components: { schemas: Record<string, Schema> } };
    const schemas = strictify(doc.components.schemas) as Record<string, Schema>;
    for (const [name, schema] of Object.entries(schemas)) {
      const gvks = (schema["x-kubernetes-group-version-kind"] ?? []) as {
        group: string;
        version: string;
        kind: string;
      }[];
      for (const gvk of gvks) {
        if (`${gvk.group ? `${gvk.group}/` : ""}${gvk.version}` !== apiVersion) continue;
        if (gvk.kind.endsWith("List") || !(schema.properties as Schema | undefined)?.metadata) continue;
        write(dir, gvk.group, gvk.kind, gvk.version, {
          $ref: `#/components/schemas/${name}`,
          components: { schemas },
        });
        written.push(`${apiVersion}/${gvk.kind}`);
      }
    }
  }
  return written;
}
