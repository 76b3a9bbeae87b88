// The operator image without a Docker engine (none on this machine): the Dockerfile's `bundle` stage is
// replayed here (its RUN commands, verbatim, on a copy of the build context), and the resulting /app tree
// runs the operator as the image's unprivileged user; the chart runs that same user. The GitHub workflow
// that builds and publishes the image is checked with actionlint. Building the image itself (base image
// pulls, multi-arch, push, signing) happens only in GitHub Actions.
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import yaml from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { env, run } from "../../testenv/test/helpers.js";
import { CHART, REPO } from "./helpers.js";

const DOCKERFILE = join(REPO, "operator", "Dockerfile");
const WORKFLOW = join(REPO, ".github", "workflows", "operator-image.yml");

interface Stage {
  from: string;
  name?: string;
  instructions: { op: string; args: string }[];
}

/** Dockerfile -> stages (line continuations joined, comments dropped; enough for this Dockerfile). */
function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, " ").split("\n");
  const stages: Stage[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`cannot parse Dockerfile line: ${line}`);
    const [, op = "", args = ""] = m;
    if (op === "FROM") {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: f?.[1] ?? args, ...(f?.[2] ? { name: f[2] } : {}), instructions: [] });
    } else if (op !== "ARG" || stages.length) stages[stages.length - 1]?.instructions.push({ op, args });
  }
  return stages;
}

const dockerfile = parseDockerfile(readFileSync(DOCKERFILE, "utf8"));
const stage = (name: string) => {
  const s = dockerfile.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};
const runtime = dockerfile[dockerfile.length - 1] as Stage;
const instr = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op).map((i) => i.args);

describe("operator/Dockerfile", () => {
  it("is multi-stage with a distroless, non-root runtime that copies only the bundled /app", () => {
    expect(dockerfile.map((s) => s.name ?? "(runtime)")).toEqual(["build", "bundle", "(runtime)"]);
    expect(runtime.from).toMatch(/^gcr\.io\/distroless\/nodejs20-debian12:nonroot$/);
    expect(instr(runtime, "COPY")).toEqual(["--from=bundle /app /app"]);
    expect(instr(runtime, "RUN")).toEqual([]);
    expect(instr(runtime, "USER")).toEqual(["65532:65532"]);
    expect(instr(runtime, "CMD")).toEqual(['["/app/operator/dist/main.js"]']);
  });

  it("runs as the user the chart's pod security context expects", () => {
    const values = readFileSync(join(CHART, "values.yaml"), "utf8");
    const [uid, gid] = (instr(runtime, "USER")[0] ?? "").split(":");
    expect(values).toMatch(new RegExp(`\\n  runAsUser: ${uid}\\n`));
    expect(values).toMatch(new RegExp(`\\n  runAsGroup: ${gid}\\n`));
    // The chart's container port is the one the image documents.
    expect(instr(runtime, "EXPOSE")).toEqual([values.match(/\nport: (\d+)\n/)?.[1]]);
  });

  it("keeps the build context small (operator/Dockerfile.dockerignore)", () => {
    const ignore = readFileSync(join(REPO, "operator", "Dockerfile.dockerignore"), "utf8");
    for (const p of [".git", "**/node_modules", "**/dist"]) expect(ignore.split("\n")).toContain(p);
  });
});

describe("the bundle stage replayed on this machine", () => {
  const work = mkdtempSync(join(tmpdir(), "qcap-image-"));
  const ctx = join(work, "src");
  const app = join(work, "app");
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  beforeAll(() => {
    chmodSync(work, 0o755); // the unprivileged user must reach app/
    // The build context: the repository's files (git's view, which also leaves out node_modules and dist).
    const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: REPO })
      .toString("utf8")
      .split("\0")
      .filter((f) => f && existsSync(join(REPO, f)) && !f.startsWith(".git/"));
    for (const f of files) {
      mkdirSync(dirname(join(ctx, f)), { recursive: true });
      cpSync(join(REPO, f), join(ctx, f));
    }
    // COPY --from=build: the compiled output (npm test builds it with the same `tsc -b`).
    const copies = instr(stage("bundle"), "COPY").filter((c) => c.startsWith("--from=build "));
    expect(copies).toEqual([
      "--from=build /src/core/dist core/dist",
      "--from=build /src/operator/dist operator/dist",
    ]);
    for (const d of ["core/dist", "operator/dist"]) cpSync(join(REPO, d), join(ctx, d), { recursive: true });
    // The RUN commands, verbatim except for the cache mount and /app (a temp dir here, not the host's /app).
    for (const cmd of instr(stage("bundle"), "RUN")) {
      const sh = cmd.replace(/^--mount=\S+\s+/, "").replaceAll("/app", app);
      const r = spawnSync("sh", ["-c", sh], {
        cwd: ctx,
        env: {
          ...process.env,
          npm_config_prefer_offline: "true",
          npm_config_fund: "false",
          npm_config_audit: "false",
        },
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`RUN ${sh}\nfailed (${r.status}): ${r.stderr}`);
    }
  }, 300_000);

  it("has production dependencies only, with the workspace link to core resolving inside /app", () => {
    for (const dev of ["typescript", "vitest", "@biomejs", "@vitest", "picomatch-cli"])
      expect(existsSync(join(app, "node_modules", dev)), dev).toBe(false);
    expect(readlinkSync(join(app, "node_modules", "@qcap", "core"))).toBe("../../core");
    expect(realpathSync(join(app, "node_modules", "@qcap", "core"))).toBe(join(app, "core"));
    expect(existsSync(join(app, "core", "dist", "index.js"))).toBe(true);
    expect(existsSync(join(app, "operator", "dist", "main.js"))).toBe(true);
    // No source maps or declarations of dependencies.
    const leftovers = execFileSync("find", [
      join(app, "node_modules"),
      "-name",
      "*.d.ts",
      "-o",
      "-name",
      "*.map",
    ]).toString();
    expect(leftovers).toBe("");
  });

  it("starts as uid/gid 65532 (every module loads, nothing needs write access to /app)", async () => {
    const r = await run("setpriv", [
      "--reuid=65532",
      "--regid=65532",
      "--clear-groups",
      process.execPath,
      join(app, "operator", "dist", "main.js"),
      "--help",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: qcap-operator");
    expect(r.stdout).toContain("--namespaces");
    const stat = execFileSync("find", [app, "-perm", "-o+w", "-not", "-type", "l"]).toString();
    expect(stat).toBe("");
  });
});

describe(".github/workflows/operator-image.yml", () => {
  let actionlint = "";
  beforeAll(() => {
    // The testenv's build of the pinned actionlint (testenv/versions.json), as core/test/workflows.test.ts uses.
    actionlint = env("QCAP_ACTIONLINT");
  });

  it("passes actionlint (syntax, expressions, inputs of the actions it uses)", async () => {
    const r = await run(actionlint, ["-no-color", WORKFLOW]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("builds from the repository root with operator/Dockerfile, smoke-tests, and pushes only outside pull requests", () => {
    const wf = readFileSync(WORKFLOW, "utf8");
    expect(wf.match(/file: operator\/Dockerfile/g)).toHaveLength(2);
    expect(wf.match(/context: \./g)).toHaveLength(2);
    expect(wf).toContain("--read-only --cap-drop ALL --security-opt no-new-privileges");
    // Every step that logs in, pushes or signs is guarded.
    const doc = yaml.load(wf) as { jobs: Record<string, { steps: Record<string, unknown>[] }> };
    const steps = Object.values(doc.jobs).flatMap((j) => j.steps);
    const publishing = steps.filter((st) =>
      /"push":true|docker\/login-action|cosign/.test(JSON.stringify(st)),
    );
    expect(publishing.length).toBeGreaterThanOrEqual(4);
    for (const st of publishing)
      expect(st.if, JSON.stringify(st)).toBe("github.event_name != 'pull_request'");
  });

  it("actionlint catches a broken workflow (the check can fail)", async () => {
    const bad = join(mkdtempSync(join(tmpdir(), "qcap-wf-")), "bad.yml");
    const text = readFileSync(WORKFLOW, "utf8").replace(
      "file: operator/Dockerfile",
      "dockerfile: operator/Dockerfile",
    );
    writeFileSync(bad, text);
    const r = await run(actionlint, ["-no-color", bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('input "dockerfile" is not defined in action "docker/build-push-action@v6"');
    rmSync(dirname(bad), { recursive: true, force: true });
  });
});
