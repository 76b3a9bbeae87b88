/**
 * An interrupted `qcap` leaves nothing behind: SIGINT or SIGTERM in the middle of writing a capsule
 * or opening one removes the temporary capsule or the staging folder (which holds decrypted data)
 * and exits with 128 + the signal's number (SPEC §10).
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliPath, qcap, tempDir } from "./helpers.js";

const GiB = 1024 ** 3;
const tmp = tempDir("qcap-interrupt-");
afterAll(() => tmp.remove());

/** A sparse file of `size` bytes (quick to make, still a full GiB to seal). */
function sparse(path: string, size: number): void {
  const fd = openSync(path, "w");
  writeSync(fd, Buffer.from("start"), 0, 5, 0);
  writeSync(fd, Buffer.from("end"), 0, 3, size - 3);
  closeSync(fd);
}

/** Runs qcap, sends `signal` as soon as `ready()` holds, and resolves to its exit code and stderr. */
function interrupt(args: string[], ready: () => boolean, signal: NodeJS.Signals) {
  return new Promise<{ code: number | null; stderr: string; signalled: boolean }>((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args]);
    let stderr = "";
    let signalled = false;
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const poll = setInterval(() => {
      if (!signalled && ready()) {
        signalled = true;
        child.kill(signal);
      }
    }, 2);
    child.on("exit", (code) => {
      clearInterval(poll);
      resolve({ code, stderr, signalled });
    });
  });
}

describe("interrupted runs", () => {
  const key = join(tmp.path, "key.json");
  const input = join(tmp.path, "in");
  const capsule = join(tmp.path, "c.qcap");

  it("pack: SIGINT removes the temporary capsule and exits 130", async () => {
    expect(qcap(["keygen", "--unprotected", "-o", key]).code).toBe(0);
    mkdirSync(input);
    sparse(join(input, "big.bin"), GiB);
    const out = join(tmp.path, "out");
    mkdirSync(out);
    const r = await interrupt(
      ["pack", input, "-o", join(out, "x.qcap"), "--sign-key", key],
      () => readdirSync(out).some((f) => f.endsWith(".tmp")),
      "SIGINT",
    );
    expect(r.signalled).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain("qcap: interrupted (SIGINT)");
    expect(readdirSync(out)).toEqual([]);
  });

  it("open: SIGTERM removes the staging folder with the decrypted data and exits 143", async () => {
    const recipient = qcap(["pubkey", key, "--format", "age"]).stdout.trim();
    expect(qcap(["pack", input, "-o", capsule, "--sign-key", key, "-r", recipient]).code).toBe(0);
    const out = join(tmp.path, "opened");
    mkdirSync(out);
    const r = await interrupt(
      ["open", capsule, "-i", key, "-o", out],
      () => readdirSync(out).some((f) => f.startsWith(".qcap-open-")),
      "SIGTERM",
    );
    expect(r.signalled).toBe(true);
    expect(r.code).toBe(143);
    expect(readdirSync(out)).toEqual([]);
    expect(existsSync(join(out, "big.bin"))).toBe(false);
  });
});
