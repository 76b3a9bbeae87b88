// sigstore-python (PyPI `sigstore`), an independent verifier the tests run against our bundles: installed
// once into a venv in the cache, keyed by the pinned requirements (testenv/sigstore-python.txt).
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir, fmtSeconds, log, run, TESTENV_ROOT } from "./common.mjs";

const REQUIREMENTS = join(TESTENV_ROOT, "sigstore-python.txt");

function venvDir() {
  const text = readFileSync(REQUIREMENTS, "utf8");
  const version = /^sigstore==(\S+)$/m.exec(text)?.[1] ?? "unknown";
  const id = createHash("sha256").update(text).digest("hex").slice(0, 12);
  return join(cacheDir(), `sigstore-python-${version}-${id}`);
}

/** The venv's python if sigstore-python is installed, else undefined. */
export function sigstorePython() {
  const dir = venvDir();
  const python = join(dir, "bin", "python");
  return existsSync(join(dir, ".ready")) ? python : undefined;
}

/** Installs sigstore-python when missing (about 20 s from PyPI); returns the venv's python. */
export async function ensureSigstorePython() {
  const ready = sigstorePython();
  if (ready) return ready;
  // Built in place (a venv does not survive a move); `.ready` marks it complete.
  const dir = venvDir();
  const tmp = dir;
  mkdirSync(join(cacheDir(), "logs"), { recursive: true });
  const logFile = join(cacheDir(), "logs", "sigstore-python.log");
  const logStream = createWriteStream(logFile, { flags: "w" });
  const started = Date.now();
  log(`installing sigstore-python into ${dir}; log: ${logFile}`);
  const step = async (cmd, args) => {
    logStream.write(`\n$ ${cmd} ${args.join(" ")}\n`);
    const r = await run(cmd, args, { logStream }).catch((e) => ({ code: -1, out: String(e) }));
    if (r.code !== 0) {
      await new Promise((r2) => logStream.end(r2));
      throw new Error(`${cmd} ${args.slice(0, 3).join(" ")} failed (exit ${r.code}); see ${logFile}`);
    }
  };
  try {
    rmSync(tmp, { recursive: true, force: true });
    await step("python3", ["-m", "venv", tmp]);
    await step(join(tmp, "bin", "python"), [
      "-m",
      "pip",
      "install",
      "--quiet",
      "--disable-pip-version-check",
      "--no-deps",
      "-r",
      REQUIREMENTS,
    ]);
    await step(join(tmp, "bin", "python"), ["-m", "pip", "check"]);
    writeFileSync(join(tmp, ".ready"), new Date().toISOString());
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    logStream.end();
  }
  log(`installed sigstore-python in ${fmtSeconds(Date.now() - started)}`);
  return join(dir, "bin", "python");
}
