// Process, port and HTTP helpers for the servers of the local control plane.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { sleep } from "./common.mjs";

/**
 * Free loopback ports, one per key of `envNames` (whose value names a variable that fixes that port).
 * Every picked port stays bound until all are picked, so the kernel cannot hand out one port twice.
 */
export async function freePorts(envNames) {
  const servers = [];
  try {
    const ports = {};
    for (const [key, envName] of Object.entries(envNames)) {
      const fixed = process.env[envName];
      if (fixed) {
        ports[key] = Number(fixed);
        continue;
      }
      const srv = createServer();
      servers.push(srv);
      await new Promise((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", resolve);
      });
      ports[key] = srv.address().port;
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** Starts a server in its own process group, stdout+stderr appended to logFile. */
export function startProcess({ name, cmd, args, env, cwd, logFile }) {
  const fd = openSync(logFile, "a");
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const proc = { name, pid: child.pid, logFile, exited: null };
  child.on("exit", (code, signal) => {
    proc.exited = { code, signal };
  });
  child.on("error", (e) => {
    proc.exited = { code: null, signal: null, error: e.message };
  });
  child.unref();
  return proc;
}

/** True when pid is a live (non-zombie) process. */
export function isAlive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return existsSync(`/proc/${pid}`);
  }
}

function signalGroup(pid, sig) {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM to the process group, then SIGKILL after timeoutMs. */
export async function stopProcess(pid, timeoutMs = 10_000) {
  if (!isAlive(pid)) {
    signalGroup(pid, "SIGKILL");
    return "gone";
  }
  signalGroup(pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) {
      signalGroup(pid, "SIGKILL"); // leftovers of the group, if any
      return "terminated";
    }
    await sleep(100);
  }
  signalGroup(pid, "SIGKILL");
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  return "killed";
}

/** TCP ports in LISTEN state on this machine (IPv4 and IPv6), from /proc/net/tcp{,6}. */
export function listeningPorts() {
  const ports = new Set();
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== "0A") continue;
      ports.add(Number.parseInt(cols[1].split(":").pop(), 16));
    }
  }
  return ports;
}

export function tail(file, lines = 40) {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** GET/POST over HTTP(S) with an optional CA and bearer token. Resolves {status, body}. */
export function httpRequest(url, { method = "GET", ca, token, headers = {}, body, timeoutMs = 5000 } = {}) {
  const u = new URL(url);
  if (u.protocol === "http:") {
    return fetch(url, {
      method,
      headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    }).then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()) }));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method,
        ca,
        headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

/** Polls `check` (resolving truthy when ready) until timeout; fails early if the process exited. */
export async function waitReady(proc, check, timeoutMs) {
  const started = Date.now();
  let last = "";
  while (Date.now() - started < timeoutMs) {
    if (proc?.exited) {
      throw new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}) before it was ready`);
    }
    try {
      if (await check()) return Date.now() - started;
    } catch (e) {
      last = e.message;
    }
    await sleep(200);
  }
  throw new Error(
    `${proc?.name ?? "server"} not ready after ${timeoutMs / 1000}s${last ? ` (${last})` : ""}`,
  );
}
