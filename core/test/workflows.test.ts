/**
 * Every workflow in .github/workflows, and every workflow example in the README, passes actionlint
 * (pinned in testenv/versions.json, built from the Go module proxy by the testenv's build step), which
 * runs shellcheck on `run:` scripts: .ci/run installs shellcheck, and under CI its absence is a failure
 * rather than a silent skip. actionlint checks the inputs of
 * well-known actions only when they are referenced by tag, so workflows that pin actions by commit
 * are linted a second time with each commit replaced by the major tag its comment names.
 * The release workflow is also checked for what it must do: build every platform's engine, publish
 * with provenance, scan, sign and attach an SBOM to the image, push and sign the chart.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yaml from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: plain ESM without declarations
import { binaryPath } from "../../testenv/lib/common.mjs";
import { repoRoot } from "./helpers.js";

const workflowsDir = join(repoRoot, ".github", "workflows");
const workflows = readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f));
const work = mkdtempSync(join(tmpdir(), "qcap-workflows-"));
let actionlint = "";
/** shellcheck on the PATH, which actionlint runs on `run:` scripts ("" when missing). */
const shellcheck = spawnSync("sh", ["-c", "command -v shellcheck"], { encoding: "utf8" }).stdout.trim();

beforeAll(() => {
  execFileSync(process.execPath, [join(repoRoot, "testenv", "cli.mjs"), "build", "actionlint"], {
    stdio: "pipe",
  });
  actionlint = binaryPath("actionlint");
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

function lint(file: string) {
  const r = spawnSync(actionlint, ["-no-color", file], { encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function lintText(name: string, text: string) {
  const file = join(work, name);
  writeFileSync(file, text);
  return lint(file);
}

/** `uses: owner/repo@<commit> # vX.Y.Z` -> `uses: owner/repo@vX`. */
const toMajorTags = (text: string) => text.replace(/@[0-9a-f]{40} # (v\d+)[.\d]*/g, "@$1");

/** The `uses:` references of a workflow that are not local (`./`) or docker images. */
const remoteUses = (text: string) =>
  [...text.matchAll(/^\s*(?:- )?uses:\s*(\S+)(.*)$/gm)]
    .filter((m) => !/^(\.\/|docker:\/\/)/.test(m[1] as string))
    .map((m) => ({ ref: m[1] as string, comment: (m[2] as string).trim() }));

describe("actionlint", () => {
  it("is the version pinned in testenv/versions.json", () => {
    const pinned = JSON.parse(readFileSync(join(repoRoot, "testenv", "versions.json"), "utf8")).components
      .actionlint.version;
    const r = spawnSync(actionlint, ["-version"], { encoding: "utf8" });
    expect(r.stdout.split("\n")[0]).toBe(pinned);
  });

  it.each(workflows)(".github/workflows/%s passes", (name) => {
    const r = lint(join(workflowsDir, name));
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
  });

  it.each(workflows)(".github/workflows/%s passes with its pinned actions read as major tags", (name) => {
    const text = readFileSync(join(workflowsDir, name), "utf8");
    const r = lintText(name, toMajorTags(text));
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
  });

  it("the README's workflow examples pass", () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    const examples = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1] as string)
      .filter((t) => /^jobs:/m.test(t));
    expect(examples.length).toBeGreaterThan(0);
    for (const [i, text] of examples.entries()) {
      const r = lintText(`readme-${i}.yml`, text);
      expect(r.out, text).toBe("");
    }
  });

  it.skipIf(!shellcheck && !process.env.CI)(
    "runs shellcheck on run: scripts (unquoted expansions are reported)",
    () => {
      expect(shellcheck, "shellcheck is not on the PATH: .ci/run installs it").not.toBe("");
      const r = lintText(
        "unquoted.yml",
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          dir=$(pwd)\n          ls $dir\n",
      );
      expect(r.code).toBe(1);
      expect(r.out).toContain("SC2086");
    },
  );

  it("catches a broken release workflow (an unknown step, an unknown input of a pinned action)", () => {
    const text = readFileSync(join(workflowsDir, "release.yml"), "utf8");
    const step = lintText(
      "bad-step.yml",
      text.replace("steps.push.outputs.digest", "steps.pushed.outputs.digest"),
    );
    expect(step.code).toBe(1);
    expect(step.out).toContain('property "pushed" is not defined');
    const input = lintText(
      "bad-input.yml",
      toMajorTags(text.replace("file: operator/Dockerfile", "dockerfile: x")),
    );
    expect(input.code).toBe(1);
    expect(input.out).toContain('input "dockerfile" is not defined in action "docker/build-push-action@v7"');
  });
});

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  permissions?: Record<string, string>;
  strategy?: { matrix: { include: { target: string }[] } };
  steps: Step[];
}

describe(".github/workflows/release.yml", () => {
  const text = readFileSync(join(workflowsDir, "release.yml"), "utf8");
  const wf = yaml.load(text) as {
    on: Record<string, unknown>;
    permissions: Record<string, string>;
    jobs: Record<string, Job>;
  };
  const job = (name: string) => wf.jobs[name] as Job;
  const runs = (name: string) =>
    job(name)
      .steps.map((s) => s.run ?? "")
      .join("\n");
  const index = (name: string, pred: (s: Step) => boolean) => job(name).steps.findIndex(pred);

  it("runs on version tags only, reading by default, with every action pinned by commit", () => {
    expect(wf.on).toEqual({ push: { tags: ["v*"] } });
    expect(wf.permissions).toEqual({ contents: "read" });
    for (const u of remoteUses(text)) {
      expect(u.ref, u.ref).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
      expect(u.comment, u.ref).toMatch(/^# v\d+\.\d+\.\d+$/);
    }
  });

  it("builds and tests the engine of every platform package", () => {
    const targets = job("native").strategy?.matrix.include.map((t) => t.target);
    expect(targets?.sort()).toEqual(readdirSync(join(repoRoot, "native", "npm")).sort());
    expect(runs("native")).toContain("node native/build.mjs --force");
    expect(runs("native")).toContain("cargo test --release --locked");
  });

  it("tests the packed tarballs, then publishes them with provenance", () => {
    const npm = job("npm");
    expect(npm.needs).toBe("native");
    expect(npm.permissions).toEqual({ contents: "read", "id-token": "write" });
    const pack = index("npm", (s) => /scripts\/pack\.mjs --all --prebuilt/.test(s.run ?? ""));
    const test = index(
      "npm",
      (s) => s.env?.QCAP_PACKED === "dist-npm" && /install\.test\.ts/.test(s.run ?? ""),
    );
    const publish = index("npm", (s) => /npm publish --provenance --access public/.test(s.run ?? ""));
    expect(pack).toBeGreaterThan(0);
    expect(test).toBeGreaterThan(pack);
    expect(publish).toBeGreaterThan(test);
  });

  it("scans the operator image before pushing it, then signs it and attaches its SBOM", () => {
    const image = job("image");
    expect(image.permissions).toMatchObject({ packages: "write", "id-token": "write" });
    const scan = index("image", (s) => (s.uses ?? "").startsWith("aquasecurity/trivy-action@"));
    const push = index("image", (s) => s.with?.push === true);
    const sbom = index("image", (s) => (s.uses ?? "").startsWith("anchore/sbom-action@"));
    const sign = index("image", (s) => /cosign sign --yes/.test(s.run ?? ""));
    expect(job("image").steps[scan]?.with).toMatchObject({
      "exit-code": "1",
      "image-ref": "qcap-operator:scan",
    });
    expect(scan).toBeGreaterThan(0);
    expect(push).toBeGreaterThan(scan);
    expect(sbom).toBeGreaterThan(push);
    expect(sign).toBeGreaterThan(sbom);
    expect(runs("image")).toContain("cosign attest --yes --type spdxjson --predicate sbom.spdx.json");
    expect(runs("image")).toContain("cosign verify-attestation");
  });

  it("pushes the chart as an OCI artifact and signs it", () => {
    expect(job("chart").needs).toBe("image");
    expect(runs("chart")).toMatch(/helm push \S+ "oci:\/\//);
    expect(runs("chart")).toMatch(/cosign sign --yes "\$\{repo\}\/qcap-operator@\$\{digest\}"/);
  });
});

describe(".github/workflows/capsule.yml", () => {
  it("pins every action by commit", () => {
    for (const u of remoteUses(readFileSync(join(workflowsDir, "capsule.yml"), "utf8"))) {
      expect(u.ref, u.ref).toMatch(/@[0-9a-f]{40}$/);
      expect(u.comment, u.ref).toMatch(/^# v\d+\.\d+\.\d+$/);
    }
  });
});

describe(".github/workflows/operator-image.yml", () => {
  it("leaves version tags to the release workflow (one publisher per image tag)", () => {
    const wf = yaml.load(readFileSync(join(workflowsDir, "operator-image.yml"), "utf8")) as {
      on: { push: Record<string, unknown> };
    };
    expect(wf.on.push.tags).toBeUndefined();
  });
});
