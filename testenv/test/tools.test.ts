import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { env, kubectl, run } from "./helpers.js";

const work = mkdtempSync(join(tmpdir(), "qcap-tools-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("helm, kubeconform and kubectl from the testenv", () => {
  it("helm renders a chart for the local cluster's version and the API server accepts it (server dry run)", async () => {
    const chart = join(work, "demo");
    mkdirSync(join(chart, "templates"), { recursive: true });
    writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: demo\nversion: 0.1.0\n");
    writeFileSync(join(chart, "values.yaml"), "greeting: hello\n");
    writeFileSync(
      join(chart, "templates", "configmap.yaml"),
      [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: {{ .Release.Name }}-demo",
        "data:",
        "  greeting: {{ .Values.greeting | quote }}",
        "  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}",
        "",
      ].join("\n"),
    );
    const helm = env("QCAP_HELM");
    const version = await run(helm, ["version", "--short"]);
    expect(version.stdout).toMatch(/^v3\.22\./);
    const lint = await run(helm, ["lint", chart]);
    expect(lint.code, lint.stdout).toBe(0);

    const rendered = await run(helm, ["template", "rel", chart, "--kube-version", env("QCAP_KUBE_VERSION")]);
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(rendered.stdout).toContain(`kubeVersion: "${env("QCAP_KUBE_VERSION")}"`);

    const dry = await kubectl(["apply", "--dry-run=server", "-n", "default", "-f", "-"], rendered.stdout);
    expect(dry.stderr).toBe("");
    expect(dry.stdout).toContain("configmap/rel-demo created (server dry run)");
    const invalid = rendered.stdout.replace("name: rel-demo", "name: Not_A_DNS_Name");
    const rejected = await kubectl(["apply", "--dry-run=server", "-n", "default", "-f", "-"], invalid);
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toContain("Invalid value");
  });

  it("kubeconform validates offline against local schemas", async () => {
    const schemas = join(work, "schemas");
    mkdirSync(schemas, { recursive: true });
    writeFileSync(
      join(schemas, "widget_v1.json"),
      JSON.stringify({
        type: "object",
        required: ["spec"],
        properties: {
          spec: { type: "object", required: ["size"], properties: { size: { type: "integer", minimum: 1 } } },
        },
      }),
    );
    const doc = (name: string, size: string) =>
      `apiVersion: e2e.qcap.test/v1\nkind: Widget\nmetadata:\n  name: ${name}\nspec:\n  size: ${size}\n`;
    writeFileSync(join(work, "good.yaml"), doc("a", "2"));
    writeFileSync(join(work, "bad.yaml"), doc("b", '"x"'));
    const args = [
      "-strict",
      "-summary",
      "-schema-location",
      join(schemas, "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"),
    ];
    const good = await run(env("QCAP_KUBECONFORM"), [...args, join(work, "good.yaml")]);
    expect(good.code, good.stdout).toBe(0);
    expect(good.stdout).toContain("Valid: 1");
    const bad = await run(env("QCAP_KUBECONFORM"), [...args, join(work, "bad.yaml")]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("got string, want integer");
  });
});
