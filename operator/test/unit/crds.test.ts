// The CRD YAML in crds/ is generated from the TypeScript schemas: it must be up to date.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { capsuleSpecSchema } from "../../src/api/capsule.js";
import { renderCrds } from "../../src/crd/render.js";

const crds = fileURLToPath(new URL("../../../crds/", import.meta.url));

describe("CRDs", () => {
  it("crds/ holds exactly the generated YAML (run `npm run gen:crds -w operator` after changing the schemas)", () => {
    const rendered = renderCrds();
    expect(readdirSync(crds).sort()).toEqual([...rendered.keys()].sort());
    for (const [name, text] of rendered) expect(readFileSync(join(crds, name), "utf8")).toBe(text);
  });

  it("the YAML is the schema the types come from, with status subresource, columns and short names", () => {
    const doc = yaml.load(readFileSync(join(crds, "qcap.dev_capsules.yaml"), "utf8")) as {
      spec: {
        names: { shortNames: string[] };
        versions: {
          schema: { openAPIV3Schema: { properties: { spec: unknown } } };
          subresources: unknown;
          additionalPrinterColumns: { name: string }[];
        }[];
      };
    };
    const v = doc.spec.versions[0];
    expect(v?.schema.openAPIV3Schema.properties.spec).toEqual(capsuleSpecSchema.json);
    expect(v?.subresources).toEqual({ status: {} });
    expect(v?.additionalPrinterColumns.map((c) => c.name)).toEqual(
      expect.arrayContaining(["Ready", "Root", "Age"]),
    );
    expect(doc.spec.names.shortNames).toContain("qcap");
  });
});
