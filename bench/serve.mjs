/** Starts bench/http-server.mjs on a file and talks to its counters. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./config.mjs";

export async function startServer(file) {
  const child = spawn(process.execPath, [join(ROOT, "bench", "http-server.mjs"), file], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(Number(String(d).trim())));
    child.once("exit", (c) => reject(new Error(`server exited (${c})`)));
  });
  // The server must not outlive the bench, whichever way the bench ends.
  const stopAtExit = () => child.kill("SIGTERM");
  process.once("exit", stopAtExit);
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/capsule.qcap`,
    /** {requests, bytes, log: [{method, range, status, bytes}]} since the last reset. */
    stats: async () => (await fetch(`${base}/stats`)).json(),
    reset: async () => (await fetch(`${base}/reset`)).json(),
    stop: () => {
      process.off("exit", stopAtExit);
      child.kill("SIGTERM");
    },
  };
}
