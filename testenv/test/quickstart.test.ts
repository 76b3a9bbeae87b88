/**
 * The README's quickstart, run as a user would type it: its shell block, taken from README.md as it
 * stands, runs under `bash -euo pipefail` in an empty folder, and its `npm i -g @qcap/core` installs
 * the packed tarballs by name from a local registry for the @qcap scope into an empty prefix, with a
 * PATH that has node and npm but no cargo, go or rustc. Only the environment differs from a user's:
 * npm's prefix and the scope's registry (what ~/.npmrc would say), and the variables of the README's
 * environment block, pointed at the local S3 server.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../core/test/helpers.js";
import {
  buildToolsOnPath,
  cleanEnv,
  nodeAndNpmOnly,
  npmSettings,
  packTarballs,
  ScopeRegistry,
} from "../../core/test/install-helpers.js";
import { env } from "./helpers.js";
import { s3Client } from "./s3-client.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** The `sh` blocks of the README's "Quickstart" section, in order. */
function quickstartBlocks(readme: string): string[] {
  const start = readme.indexOf("\n## Quickstart\n");
  if (start < 0) throw new Error("README.md has no Quickstart section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
}

/** The variables an environment block exports. */
function exportedNames(block: string): string[] {
  const names = new Set<string>();
  for (const line of block.split("\n")) {
    const code = line.replace(/#.*/, "");
    if (!/^\s*export\s/.test(code)) continue;
    for (const m of code.matchAll(/\b([A-Z][A-Z0-9_]*)=/g)) names.add(m[1] as string);
  }
  return [...names].sort();
}

const work = mkdtempSync(join(tmpdir(), "qcap-quickstart-"));
const bucket = `qcap-quickstart-${randomBytes(4).toString("hex")}`;
const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const blocks = quickstartBlocks(readme);
const runnable = blocks.filter((b) => b.startsWith("npm i -g "));
const environment = blocks.filter((b) => /^export /m.test(b));

let registry: ScopeRegistry;
let tools: string;
let client: S3Client;

beforeAll(async () => {
  const tarballs = packTarballs(join(work, "tarballs"));
  registry = new ScopeRegistry(tarballs);
  await registry.start(Object.keys(tarballs));
  tools = nodeAndNpmOnly(join(work, "tools"));
  client = s3Client();
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}, 300_000);

afterAll(() => {
  registry?.stop();
  client?.destroy();
  rmSync(work, { recursive: true, force: true });
});

/** Runs `script` with bash -euo pipefail; resolves with its exit code and output. */
function bash(script: string, cwd: string, environ: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], {
      cwd,
      env: environ,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => out.push(d));
    child.on("close", (code) => resolve({ code, output: Buffer.concat(out).toString() }));
  });
}

describe("the README quickstart", () => {
  it("has one runnable block and one environment block", () => {
    expect(runnable).toHaveLength(1);
    expect(environment).toHaveLength(1);
  });

  it("runs from an npm install into an empty prefix against the local S3 server", async () => {
    const prefix = join(work, "prefix");
    const dir = join(work, "user");
    mkdirSync(dir);
    // What the environment block exports, given the local S3 server's values.
    const s3 = {
      AWS_ACCESS_KEY_ID: env("AWS_ACCESS_KEY_ID"),
      AWS_SECRET_ACCESS_KEY: env("AWS_SECRET_ACCESS_KEY"),
      AWS_REGION: env("AWS_REGION"),
      AWS_ENDPOINT_URL: env("AWS_ENDPOINT_URL"),
      QCAP_S3_FORCE_PATH_STYLE: "true",
      REGISTRY: `s3://${bucket}/capsules`,
    };
    expect(exportedNames(environment[0] as string)).toEqual(Object.keys(s3).sort());
    const user = Object.fromEntries(
      Object.entries(cleanEnv(prefix, tools)).filter(([k]) => !k.startsWith("AWS_")),
    );
    const environ = { ...user, ...npmSettings(prefix, registry.url), ...s3 };
    expect(buildToolsOnPath(environ)).toBe("");

    const r = await bash(runnable[0] as string, dir, environ);
    expect(r.code, r.output).toBe(0);

    // @qcap/core came by name from the scope's registry, and `qcap` is the prefix's own.
    expect(registry.requests).toContain("/@qcap/core");
    const bin = realpathSync(join(prefix, "bin", "qcap"));
    expect(bin.startsWith(realpathSync(prefix))).toBe(true);
    expect(r.output).toContain("hello, capsule");

    // The capsule went through the registry: the index names it, the fetched copy is the packed
    // one, and the reader's key opened it.
    const o = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "capsules/index.json" }));
    const index = JSON.parse(await (o.Body as { transformToString(): Promise<string> }).transformToString());
    expect(index.capsules).toHaveLength(1);
    const entry = index.capsules[0];
    expect(entry).toMatchObject({ namespace: "demo", name: "hello", sealed: true });
    expect(r.output).toMatch(
      new RegExp(`^demo/hello {2}${entry.root} {2}${entry.size} bytes {2}sealed `, "m"),
    );
    const packed = readFileSync(join(dir, "data.qcap"));
    expect(packed.length).toBe(entry.size);
    expect(readFileSync(join(dir, "hello.qcap")).equals(packed)).toBe(true);
    expect(readFileSync(join(dir, "out", "hello.txt"), "utf8")).toBe("hello, capsule\n");
  });
});
