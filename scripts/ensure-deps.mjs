#!/usr/bin/env node
// Installs workspace dependencies when node_modules is missing or older than the manifests, and
// builds the native engine (native/build.mjs, a no-op when up to date), so every README command
// works as the first command on a fresh clone.
import { execSync } from "node:child_process";
import { existsSync, readFileSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const at = (f) => join(root, f);
const marker = at("node_modules/.package-lock.json");
const workspaces = JSON.parse(readFileSync(at("package.json"), "utf8")).workspaces ?? [];
const manifests = ["package.json", "package-lock.json", ...workspaces.map((w) => `${w}/package.json`)]
  .map(at)
  .filter(existsSync);

let cmd;
if (!existsSync(marker)) {
  cmd = existsSync(at("package-lock.json")) ? "npm ci" : "npm install";
} else if (manifests.some((f) => statSync(f).mtimeMs > statSync(marker).mtimeMs)) {
  cmd = "npm install";
}
if (cmd) {
  process.stderr.write(`installing dependencies: ${cmd}\n`);
  execSync(`${cmd} --no-audit --no-fund`, { stdio: "inherit", cwd: root });
  const now = new Date();
  utimesSync(marker, now, now);
}

execSync("node native/build.mjs", { stdio: "inherit", cwd: root });
