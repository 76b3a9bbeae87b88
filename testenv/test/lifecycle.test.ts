import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { listeningPorts, run } from "./helpers.js";

const CLI = resolve(import.meta.dirname, "..", "cli.mjs");

interface State {
  dir: string;
  pids: Record<string, number>;
  ports: Record<string, number>;
}

function alive(pid: number) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** PIDs of processes whose command line mentions `needle`. */
function processesMentioning(needle: string) {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      /* exited */
    }
  }
  return pids;
}

describe("cli lifecycle", () => {
  it("up / status / env / down on a second environment leaves no process and no listening port", async () => {
    const parent = mkdtempSync(join(tmpdir(), "qcap-lifecycle-"));
    const dir = join(parent, "env");
    try {
      await lifecycle(dir);
    } finally {
      await run(process.execPath, [CLI, "down", "--dir", dir]); // no-op after a successful run
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

async function lifecycle(dir: string) {
  const upRes = await run(process.execPath, [CLI, "up", "--dir", dir]);
  expect(upRes.code, upRes.stderr).toBe(0);
  const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as State;
  expect(Object.keys(state.pids).sort()).toEqual(
    [
      "etcd",
      "fulcio",
      "kube-apiserver",
      "oidc-issuer",
      "rekor-server",
      "tesseract",
      "timestamp-server",
      "versitygw",
    ].sort(),
  );
  const listening = listeningPorts();
  for (const [name, port] of Object.entries(state.ports)) {
    if (name !== "etcdPeer") expect(listening.has(port), `${name} port ${port}`).toBe(true);
  }

  const status = await run(process.execPath, [CLI, "status", "--dir", dir]);
  expect(status.code, status.stdout).toBe(0);
  expect(status.stdout).toMatch(/kube-apiserver\s+pid \d+\s+port \d+\s+ok/);

  const envOut = await run(process.execPath, [CLI, "env", "--dir", dir]);
  expect(envOut.code).toBe(0);
  for (const name of [
    "KUBECONFIG",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "QCAP_FULCIO_URL",
    "QCAP_TSA_URL",
    "QCAP_REKOR_URL",
    "QCAP_COSIGN",
    "QCAP_OIDC_ISSUER_URL",
    "QCAP_TRUSTED_ROOT",
    "QCAP_KUBE_ADMIN_TOKEN",
    "QCAP_KUBE_ALICE_TOKEN",
    "QCAP_KUBE_BOB_TOKEN",
    "QCAP_TESTENV_DIR",
    "QCAP_KUBECTL",
    "QCAP_HELM",
    "QCAP_KUBECONFORM",
    "QCAP_ACTIONLINT",
    "PATH",
  ]) {
    expect(envOut.stdout).toMatch(new RegExp(`^export ${name}=`, "m"));
  }
  // The exported shell lines load in bash.
  const sourced = await run("bash", ["-c", `${envOut.stdout}\nkubectl version --client -o json`]);
  expect(sourced.code, sourced.stderr).toBe(0);
  expect(sourced.stdout).toContain('"gitVersion": "v1.36');

  const downRes = await run(process.execPath, [CLI, "down", "--dir", dir]);
  expect(downRes.code, downRes.stderr).toBe(0);
  for (const [name, pid] of Object.entries(state.pids)) expect(alive(pid), `${name} pid ${pid}`).toBe(false);
  const after = listeningPorts();
  for (const [name, port] of Object.entries(state.ports))
    expect(after.has(port), `${name} port ${port}`).toBe(false);
  expect(processesMentioning(dir)).toEqual([]);
  expect(existsSync(dir)).toBe(false);
}
