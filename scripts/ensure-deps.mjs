#!/usr/bin/env node
// Installs workspace dependencies when node_modules is missing or older than the manifests, and
// builds the native engine (native/build.mjs, a no-op when up to date), so every README command
// works as the first command on a fresh clone.
import { execSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
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

// Python SDK: a virtual environment with python/ and its test extras, rebuilt when pyproject.toml
// changes, then the raster and netCDF extras (rasterio, xarray, h5py: binary wheels) when they install
// here; their tests are skipped otherwise. Without python3 the Python tests are skipped (they say so).
const pyproject = at("python/pyproject.toml");
const venv = process.env.QCAP_PYTHON_VENV ?? join(homedir(), ".cache/qcap-python/venv");
const stamp = join(venv, ".qcap-pyproject.sha256");
const pythonFound = (() => {
  try {
    execSync("python3 -c 'import sys; assert sys.version_info >= (3, 10)'", { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (existsSync(pyproject) && pythonFound) {
  const want = createHash("sha256").update(readFileSync(pyproject)).digest("hex");
  const have = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : "";
  if (want !== have) {
    process.stderr.write(`installing the Python SDK's environment in ${venv}\n`);
    if (!existsSync(join(venv, "bin/python"))) execSync(`python3 -m venv "${venv}"`, { stdio: "inherit" });
    const pip = `"${join(venv, "bin/python")}" -m pip install --quiet --disable-pip-version-check`;
    execSync(`${pip} "${at("python")}[test]"`, { stdio: "inherit", cwd: root });
    try {
      execSync(`${pip} --only-binary=:all: "${at("python")}[raster,netcdf]"`, {
        stdio: "inherit",
        cwd: root,
      });
    } catch {
      process.stderr.write(
        "the raster and netCDF extras did not install here: their Python tests are skipped\n",
      );
    }
    writeFileSync(stamp, `${want}\n`);
  }
}
