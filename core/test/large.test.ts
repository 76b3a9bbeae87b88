/**
 * Memory stays flat with file size: a 5 GiB (sparse) file is sealed, verified and range-read with
 * peak RSS measured by /usr/bin/time, under 128 MiB. The block engine runs one worker thread beside
 * the main one (the default on two cores; each further worker adds about 20 MiB). Skipped only when
 * the disk lacks room for the capsule.
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, statfsSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliPath, qcap, tempDir } from "./helpers.js";

const SIZE = 5 * 1024 ** 3 + 12345;
const LIMIT_KIB = 128 * 1024;
const tmp = tempDir("qcap-large-");
const free = (() => {
  const s = statfsSync(tmp.path);
  return s.bavail * s.bsize;
})();
afterAll(() => tmp.remove());

/** Runs the CLI under /usr/bin/time and returns its peak RSS in KiB. */
function peakRss(args: string[]): { code: number; kib: number; stderr: string } {
  const r = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, cliPath, ...args], {
    encoding: "utf8",
    env: { ...process.env, QCAP_THREADS: "1" },
  });
  const lines = r.stderr.trim().split("\n");
  return { code: r.status ?? -1, kib: Number(lines.at(-1)), stderr: r.stderr };
}

describe.runIf(free > 2 * SIZE)("a 5 GiB file", () => {
  it("is sealed, verified and range-read with peak RSS under 128 MiB", () => {
    const src = join(tmp.path, "src");
    spawnSync("mkdir", [src]);
    const file = join(src, "raster.bin");
    // Sparse file with a marker written near the end, so content is not all zeros.
    const fd = openSync(file, "w");
    writeSync(fd, Buffer.from("qcap-marker"), 0, 11, SIZE - 11);
    closeSync(fd);
    expect(qcap(["keygen", "-o", join(tmp.path, "k"), "--unprotected"]).code).toBe(0);
    const recipient = JSON.parse(readFileSync(join(tmp.path, "k"), "utf8")).public.recipient;
    const out = join(tmp.path, "big.qcap");

    const packed = peakRss(["pack", src, "-o", out, "--sign-key", join(tmp.path, "k"), "-r", recipient]);
    expect(packed.code, packed.stderr).toBe(0);
    const verified = peakRss(["verify", out]);
    expect(verified.code, verified.stderr).toBe(0);
    const cat = spawnSync(process.execPath, [
      cliPath,
      "cat",
      out,
      "raster.bin",
      "--offset",
      String(SIZE - 11),
      "-i",
      join(tmp.path, "k"),
    ]);
    expect(cat.stdout.toString()).toBe("qcap-marker");

    console.log(`5 GiB: pack peak RSS ${packed.kib} KiB, verify peak RSS ${verified.kib} KiB`);
    expect(packed.kib).toBeLessThan(LIMIT_KIB);
    expect(verified.kib).toBeLessThan(LIMIT_KIB);
  }, 900_000);
});
