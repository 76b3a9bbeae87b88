/** The README's example workflow and this repository's workflow use the action as action.yml defines it. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./helpers.js";

const actionYml = readFileSync(join(repoRoot, "action", "action.yml"), "utf8");

function namesUnder(section: string): string[] {
  const block = actionYml.split(new RegExp(`^${section}:\\s*$`, "m"))[1]?.split(/^\S/m)[0] ?? "";
  return [...block.matchAll(/^ {2}([a-z0-9-]+):\s*$/gm)].map((m) => m[1] as string);
}
const INPUTS = namesUnder("inputs");
const OUTPUTS = namesUnder("outputs");

interface Use {
  id?: string;
  uses: string;
  with: Record<string, string>;
}

/** The steps of a workflow that use the action, with their `with:` keys (a plain reading of the YAML layout). */
function actionSteps(yaml: string, uses: RegExp): Use[] {
  const lines = yaml.split("\n");
  const out: Use[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(- )?uses:\s*(\S+)/.exec(lines[i] as string);
    if (!m || !uses.test(m[3] as string)) continue;
    // The step's other keys sit at the indentation of `uses:` (after "- " when it starts the step).
    const indent = (m[1] as string).length + (m[2] ? 2 : 0);
    let start = i;
    while (start > 0 && !/^\s*- /.test(lines[start] as string)) start--;
    let end = i + 1;
    while (
      end < lines.length &&
      ((lines[end] as string).trim() === "" || (lines[end] as string).search(/\S/) >= indent)
    )
      end++;
    const step: Use = { uses: m[3] as string, with: {} };
    const id = lines.slice(start, end).find((l) => /^\s*(- )?id:/.test(l));
    if (id) step.id = id.replace(/^\s*(- )?id:\s*/, "").trim();
    const w = lines.slice(start, end).findIndex((l) => /^\s*with:\s*$/.test(l));
    if (w >= 0) {
      const withIndent = (lines[start + w] as string).search(/\S/) + 2;
      for (const l of lines.slice(start + w + 1, end)) {
        const kv = new RegExp(`^ {${withIndent}}([a-z0-9-]+):\\s*(.*)$`).exec(l);
        if (kv) step.with[kv[1] as string] = kv[2] as string;
      }
    }
    out.push(step);
  }
  return out;
}

function checkWorkflow(yaml: string, uses: RegExp) {
  const steps = actionSteps(yaml, uses);
  expect(steps).toHaveLength(1);
  const step = steps[0] as Use;
  expect(step.with).toHaveProperty("paths");
  for (const key of Object.keys(step.with)) expect(INPUTS, `unknown input ${key}`).toContain(key);
  const outputs = [...yaml.matchAll(new RegExp(`steps\\.${step.id}\\.outputs\\.([a-z-]+)`, "g"))].map(
    (m) => m[1],
  );
  expect(outputs.length).toBeGreaterThan(0);
  for (const o of outputs) expect(OUTPUTS, `unknown output ${o}`).toContain(o);
  // Keyless (the default) needs the OIDC permission in the job.
  if (step.with.sigstore !== "key") expect(yaml).toMatch(/^\s+id-token: write/m);
}

describe("workflows using the action", () => {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const section = readme.split("## The GitHub Action")[1]?.split(/^## /m)[0] ?? "";

  it("the README example uses only inputs and outputs that action.yml defines", () => {
    const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
    expect(example).toMatch(/^on:/m);
    checkWorkflow(example, /\/action@/);
  });

  it("the README documents every input and output", () => {
    for (const name of INPUTS) expect(section, name).toContain(`\`${name}\``);
    for (const name of OUTPUTS) expect(section, name).toContain(`\`${name}\``);
  });

  it(".github/workflows/capsule.yml runs the repository's own action", () => {
    const yaml = readFileSync(join(repoRoot, ".github", "workflows", "capsule.yml"), "utf8");
    checkWorkflow(yaml, /^\.\/action$/);
  });
});
