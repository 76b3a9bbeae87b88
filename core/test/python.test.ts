// Runs the Python SDK's pytest suite (python/tests) in the virtual environment that
// scripts/ensure-deps.mjs prepares, so `npm test` covers the second implementation too.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const venv = process.env.QCAP_PYTHON_VENV ?? join(homedir(), ".cache/qcap-python/venv");
const python = join(venv, "bin/python");
const hasPython3 = spawnSync("python3", ["--version"]).status === 0;
const why = !hasPython3
  ? "python3 is not installed: the Python SDK tests are skipped"
  : !existsSync(python)
    ? `no Python environment at ${venv} (run node scripts/ensure-deps.mjs): the Python SDK tests are skipped`
    : "";

describe.skipIf(why !== "")(why || "Python SDK", () => {
  it("passes its pytest suite (vectors, reader, writer, CLI interop, fsspec with pandas, rasterio and xarray)", () => {
    const r = spawnSync(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "python/tests", "-rs"], {
      cwd: root,
      encoding: "utf8",
      env: {
        ...process.env,
        PYTHONPATH: join(root, "python/src"),
        QCAP_CLI: join(root, "core/dist/cli/main.js"),
      },
      timeout: 600_000,
    });
    if (r.status !== 0) console.error(r.stdout, r.stderr);
    expect(r.status, `${r.stdout}\n${r.stderr}`.slice(-4000)).toBe(0);
  }, 660_000);
});
