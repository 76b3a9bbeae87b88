// Shared helpers of the local test control plane (plain Node ESM, no dependencies).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const TESTENV_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = resolve(TESTENV_ROOT, "..");

export function cacheDir() {
  const dir = process.env.QCAP_TESTENV_CACHE || join(homedir(), ".cache", "qcap-testenv");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** File that points to the running environment so that `down`/`status`/`env` work without arguments. */
export function currentPointerFile() {
  return join(cacheDir(), "current.json");
}

export function loadVersions() {
  return JSON.parse(readFileSync(join(TESTENV_ROOT, "versions.json"), "utf8"));
}

/** Absolute path of a component's cached binary (it may not exist yet). */
export function binaryPath(name, versions = loadVersions()) {
  const c = versions.components[name];
  if (!c) throw new Error(`unknown component ${name}`);
  return join(cacheDir(), `${name}-${c.version}${c.patch ? `+${c.patch}` : ""}`, c.binary);
}

export function allBinaries(versions = loadVersions()) {
  return Object.fromEntries(Object.keys(versions.components).map((n) => [n, binaryPath(n, versions)]));
}

export function missingBinaries(versions = loadVersions()) {
  return Object.keys(versions.components).filter((n) => !existsSync(binaryPath(n, versions)));
}

export function log(msg) {
  process.stderr.write(`[testenv] ${msg}\n`);
}

export function fmtSeconds(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Runs a command, appending stdout+stderr to a log stream. Resolves with the exit code, rejects on spawn error.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{cwd?: string, env?: NodeJS.ProcessEnv, logStream?: import("node:fs").WriteStream, capture?: boolean}} opts
 */
export function run(cmd, args, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const onData = (d) => {
      if (opts.logStream) opts.logStream.write(d);
      if (opts.capture) out += d.toString();
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), out }));
  });
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
