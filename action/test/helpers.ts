/**
 * Runs the bundled action as the GitHub runner does: `node dist/index.js` with INPUT_* variables and the
 * GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_EVENT_PATH files, in a workspace folder.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { toHex } from "../../core/src/hash/hex.js";
import { generateKeyFile, serializeKeyFile } from "../../core/src/keys/keyfile.js";

export const repoRoot = join(import.meta.dirname, "..", "..");
export const cliPath = join(repoRoot, "core", "dist", "cli", "main.js");

/** A variable the testenv global setup exported (see testenv/README.md). */
export function testenv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: is testenv/global-setup.mjs the project's globalSetup?`);
  return v;
}

export const REPOSITORY = "qcap-test/capsule";
export const REF = "refs/heads/main";
export const SHA = "1f7bd2d4d0ac1d79c4c1b1b2fd3b7e5a2cbb9e11";
export const WORKFLOW_PATH = ".github/workflows/release.yml";

/** The variables GitHub sets for every step of a push to main in REPOSITORY. */
export function githubEnv(workspace: string, event: string): Record<string, string> {
  return {
    GITHUB_ACTIONS: "true",
    CI: "true",
    GITHUB_WORKSPACE: workspace,
    GITHUB_EVENT_PATH: event,
    GITHUB_EVENT_NAME: "push",
    GITHUB_SERVER_URL: "https://github.com",
    GITHUB_API_URL: "https://api.github.com",
    GITHUB_REPOSITORY: REPOSITORY,
    GITHUB_REPOSITORY_ID: "123456789",
    GITHUB_REPOSITORY_OWNER: "qcap-test",
    GITHUB_REPOSITORY_OWNER_ID: "1000",
    GITHUB_REF: REF,
    GITHUB_REF_NAME: "main",
    GITHUB_REF_TYPE: "branch",
    GITHUB_SHA: SHA,
    GITHUB_WORKFLOW: "release",
    GITHUB_WORKFLOW_REF: `${REPOSITORY}/${WORKFLOW_PATH}@${REF}`,
    GITHUB_WORKFLOW_SHA: SHA,
    GITHUB_RUN_ID: "4242",
    GITHUB_RUN_NUMBER: "7",
    GITHUB_RUN_ATTEMPT: "1",
    GITHUB_ACTOR: "qcap-test",
    GITHUB_JOB: "release",
    RUNNER_ENVIRONMENT: "github-hosted",
    RUNNER_OS: "Linux",
    RUNNER_ARCH: "X64",
    RUNNER_NAME: "GitHub Actions 1",
  };
}

/** The `default:` of each input in action.yml (a plain reading of its two-level layout). */
export function actionDefaults(): Record<string, string> {
  const out: Record<string, string> = {};
  let section = "";
  let input = "";
  for (const line of readFileSync(join(repoRoot, "action", "action.yml"), "utf8").split("\n")) {
    const top = /^([a-z]+):/.exec(line);
    if (top) section = top[1] as string;
    const name = /^ {2}([a-z0-9-]+):\s*$/.exec(line);
    if (section === "inputs" && name) input = name[1] as string;
    const def = /^ {4}default:\s*(.*)$/.exec(line);
    if (section === "inputs" && def && input) out[input] = (def[1] as string).replace(/^"(.*)"$/, "$1");
  }
  return out;
}

export interface ActionResult {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  /** The `::error::` messages, decoded. */
  errors: string[];
}

/** Parses the GITHUB_OUTPUT file (`name<<delimiter` blocks, as @actions/core writes them). */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i] ?? "");
    if (m) {
      const [, name, delim] = m as unknown as [string, string, string];
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i] as string);
      out[name] = value.join("\n");
    } else if (lines[i]?.includes("=")) {
      const at = (lines[i] as string).indexOf("=");
      out[(lines[i] as string).slice(0, at)] = (lines[i] as string).slice(at + 1);
    }
  }
  return out;
}

const unescapeCommand = (s: string) => s.replace(/%0D/g, "\r").replace(/%0A/g, "\n").replace(/%25/g, "%");

export interface Workspace {
  path: string;
  dir(...p: string[]): string;
  remove(): void;
  /** Runs the action with these inputs (names as in action.yml) and extra environment. */
  run(inputs: Record<string, string>, env?: Record<string, string>): Promise<ActionResult>;
}

/** A temporary workspace with a sample build: text, binary of several chunks, an executable, nested folders. */
export function workspace(prefix = "qcap-action-"): Workspace {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const dir = (...p: string[]) => join(path, ...p);
  mkdirSync(dir("ws", "dist", "bin"), { recursive: true });
  mkdirSync(dir("ws", "dist", "docs", "api"), { recursive: true });
  mkdirSync(dir("ws", "stac"), { recursive: true });
  writeFileSync(dir("ws", "dist", "README.txt"), "sample build\n");
  writeFileSync(dir("ws", "dist", "app.bin"), pattern(3 * 65536 + 777));
  writeFileSync(dir("ws", "dist", "bin", "tool"), "#!/bin/sh\necho tool\n");
  chmodSync(dir("ws", "dist", "bin", "tool"), 0o755);
  writeFileSync(dir("ws", "dist", "docs", "api", "index.html"), "<h1>API & more</h1>\n");
  writeFileSync(dir("ws", "dist", "debug.map"), "{}\n");
  writeFileSync(dir("ws", "stac", "item.json"), '{"type":"Feature","id":"sample"}\n');
  // The action as GitHub checks it out: the committed files, no node_modules anywhere above them.
  const main = dir("checkout", "action", "dist", "index.js");
  mkdirSync(dirname(main), { recursive: true });
  for (const f of ["action.yml", "package.json", "dist/index.js", "dist/worker.js"])
    copyFileSync(join(repoRoot, "action", f), dir("checkout", "action", f));
  writeFileSync(
    dir("event.json"),
    JSON.stringify({ ref: REF, after: SHA, repository: { full_name: REPOSITORY, private: false } }),
  );

  const run = (inputs: Record<string, string>, extraEnv: Record<string, string> = {}) =>
    new Promise<ActionResult>((resolve, reject) => {
      const output = dir(`output-${Math.random().toString(36).slice(2)}`);
      const summary = dir(`summary-${Math.random().toString(36).slice(2)}`);
      writeFileSync(output, "");
      writeFileSync(summary, "");
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? path,
        RUNNER_TEMP: dir(),
        GITHUB_OUTPUT: output,
        GITHUB_STEP_SUMMARY: summary,
        ...githubEnv(dir("ws"), dir("event.json")),
        ...extraEnv,
      };
      // The runner passes inputs as INPUT_<NAME> with the name upper-cased (hyphens kept), defaults
      // from action.yml filled in.
      for (const [k, v] of Object.entries({ ...actionDefaults(), ...inputs }))
        env[`INPUT_${k.toUpperCase()}`] = v;
      const child = spawn(process.execPath, [main], { cwd: dir("ws"), env });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => {
        stdout += b.toString();
      });
      child.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
      });
      child.on("error", reject);
      child.on("close", (code) => {
        const errors = stdout
          .split("\n")
          .filter((l) => l.startsWith("::error::"))
          .map((l) => unescapeCommand(l.slice("::error::".length)));
        resolve({
          code: code ?? -1,
          stdout,
          stderr,
          outputs: parseOutputFile(readFileSync(output, "utf8")),
          summary: readFileSync(summary, "utf8"),
          errors,
        });
      });
    });

  return { path, dir, remove: () => rmSync(path, { recursive: true, force: true }), run };
}

/** Bytes i mod 251. */
export function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function qcap(args: string[], cwd?: string): CliResult {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: "utf8", ...(cwd ? { cwd } : {}) });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Lines of stdout other than the runner's `::add-mask::` commands (what a log reader would see). */
export const visibleLog = (r: { stdout: string; stderr: string }) =>
  [...r.stdout.split("\n").filter((l) => !l.startsWith("::add-mask::")), r.stderr].join("\n");

/** Decodes the HTML entities the summary uses. */
export const htmlText = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));

/** The `<pre><code>` verify command of a summary. */
export function summaryCommand(summary: string): string[] {
  const m = /<pre lang="sh"><code>([\s\S]*?)<\/code><\/pre>/.exec(summary);
  if (!m?.[1]) throw new Error("no verify command in the summary");
  // Split like a POSIX shell does for our quoting: words, or '…' with '"'"' escapes.
  const text = htmlText(m[1]).trim();
  const words: string[] = [];
  const re = /'((?:[^']|'"'"')*)'|(\S+)/g;
  for (let w = re.exec(text); w; w = re.exec(text))
    words.push(w[1] !== undefined ? w[1].replace(/'"'"'/g, "'") : (w[2] as string));
  return words;
}

/** Writes an unprotected Q-Cap key file, as a CI secret holds it. */
export function writeKey(path: string): { recipient: string; publicKey: string; seed: string } {
  const key = generateKeyFile();
  writeFileSync(path, serializeKeyFile(key), { mode: 0o600 });
  return { recipient: key.public.recipient, publicKey: key.public.ed25519, seed: toHex(key.signing.seed) };
}
