// `build`: compiles every pinned binary that is missing from the cache, one after the other (2 cores).
import {
  chmodSync,
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { binaryPath, cacheDir, fmtSeconds, loadVersions, log, run } from "./common.mjs";
import { ensureSigstorePython } from "./python.mjs";

function goEnv() {
  return {
    ...process.env,
    CGO_ENABLED: "0",
    GOTOOLCHAIN: "local",
    GOFLAGS: "-buildvcs=false -mod=mod",
    GOWORK: "off",
    GOPATH: process.env.GOPATH || join(process.env.HOME || "/root", "go"),
  };
}

async function checkGo(versions, logStream) {
  const r = await run("go", ["env", "GOVERSION"], { capture: true, env: goEnv(), logStream }).catch(
    () => null,
  );
  if (!r || r.code !== 0) throw new Error(`\`go\` is not on PATH: install Go >= ${versions.go.minVersion}`);
  const v = r.out.trim().replace(/^go/, "");
  const [a, b] = v.split(".").map(Number);
  const [ma, mb] = versions.go.minVersion.split(".").map(Number);
  if (a < ma || (a === ma && b < mb))
    throw new Error(`Go ${v} is too old: need >= ${versions.go.minVersion}`);
  return v;
}

async function mustRun(cmd, args, opts, what) {
  opts.logStream.write(`\n$ ${cmd} ${args.join(" ")}\n`);
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code})`);
  return r;
}

/** Staging modules of k8s.io/kubernetes: the `k8s.io/X => ./staging/...` lines of that release's go.mod. */
async function kubernetesStaging(c, env, logStream) {
  const r = await mustRun(
    "go",
    ["mod", "download", "-json", `${c.module}@${c.version}`],
    { env, logStream, capture: true },
    "go mod download k8s.io/kubernetes",
  );
  const gomod = readFileSync(JSON.parse(r.out).GoMod, "utf8");
  const staging = [...gomod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map((m) => m[1]);
  if (staging.length < 20)
    throw new Error(`found only ${staging.length} staging modules in ${c.module} go.mod`);
  return staging;
}

/** Creates (once) the throwaway wrapper module that pulls the component in as a dependency. */
async function prepareWrapper(name, c, versions, env, logStream) {
  const group = Object.entries(versions.components).filter(([, o]) => o.wrapper === c.wrapper);
  const dir = join(cacheDir(), "src", `${c.wrapper}-${c.version}${c.patch ? `+${c.patch}` : ""}`);
  const stamp = join(dir, ".ready");
  if (existsSync(stamp)) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let gomod = `module qcap.local/testenv/${c.wrapper}\n\ngo ${versions.go.minVersion}\n`;
  if (c.stagingVersion) {
    const staging = await kubernetesStaging(c, env, logStream);
    log(`  ${name}: ${staging.length} staging modules replaced with ${c.stagingVersion}`);
    gomod += `\nreplace (\n${staging.map((m) => `\t${m} => ${m} ${c.stagingVersion}`).join("\n")}\n)\n`;
  }
  writeFileSync(join(dir, "go.mod"), gomod);
  const pkgs = group.map(([, o]) => `${o.package}@${o.version}`);
  await mustRun("go", ["get", ...pkgs], { cwd: dir, env, logStream }, `go get ${pkgs.join(" ")}`);
  writeFileSync(stamp, new Date().toISOString());
  return dir;
}

async function depVersion(dir, mod, env, logStream) {
  const r = await run("go", ["list", "-m", "-f", "{{.Version}}", mod], {
    cwd: dir,
    env,
    logStream,
    capture: true,
  });
  return r.code === 0 ? r.out.trim() : "";
}

async function ldflags(name, c, dir, env, logStream) {
  const flags = ["-s", "-w"];
  const x = (k, v) => flags.push(`-X '${k}=${v}'`);
  if (c.wrapper === "kubernetes") {
    const [, major, minor] = c.version.match(/^v(\d+)\.(\d+)/) || [];
    for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
      x(`${pkg}.gitVersion`, c.version);
      x(`${pkg}.gitMajor`, major);
      x(`${pkg}.gitMinor`, minor);
      x(`${pkg}.gitTreeState`, "clean");
      x(`${pkg}.buildDate`, "1970-01-01T00:00:00Z");
    }
  } else if (name === "helm") {
    x("helm.sh/helm/v3/internal/version.version", c.version);
    x("helm.sh/helm/v3/internal/version.gitTreeState", "clean");
    // Like helm's Makefile: the default Kubernetes version for template/lint follows its client-go.
    const cg = await depVersion(dir, "k8s.io/client-go", env, logStream);
    const m = cg.match(/^v0\.(\d+)\./);
    if (m) {
      for (const pkg of ["helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"]) {
        x(`${pkg}.k8sVersionMajor`, "1");
        x(`${pkg}.k8sVersionMinor`, m[1]);
      }
    }
  } else if (
    name === "fulcio" ||
    name === "timestamp-server" ||
    name === "cosign" ||
    name === "rekor-server"
  ) {
    x("sigs.k8s.io/release-utils/version.gitVersion", c.version);
    x("sigs.k8s.io/release-utils/version.gitTreeState", "clean");
  } else if (name === "kubeconform") {
    x("main.version", c.version);
  } else if (name === "versitygw") {
    x("main.Version", c.version);
  } else if (name === "actionlint") {
    x("github.com/rhysd/actionlint.version", c.version);
  }
  return flags.join(" ");
}

/**
 * Source patches. Go refuses -overlay for files in GOMODCACHE, so a patched component's module is copied
 * next to its wrapper module, edited there, and wired in with a `replace` directive. The cache directory
 * of a patched binary carries the patch id from versions.json (`<name>-<version>+<patch>`).
 * timestamp-server: its Prometheus listener is hard-coded to ":2112" on all interfaces (and the server exits
 * when that port is taken); the patch reads the address from TIMESTAMP_METRICS_ADDR (default unchanged).
 * fulcio: its metrics listener binds ":<metrics-port>" on all interfaces; the patch binds it to the --http-host
 * address like the API listener. (Fulcio's duplex mode, HTTP and gRPC on one port, panics at start in v1.8.8 with
 * a duplicate Prometheus registration, so the testenv runs HTTP and gRPC on two ports.)
 */
const PATCHES = {
  fulcio: [
    {
      file: "cmd/app/serve.go",
      edits: [
        [
          'Addr:              fmt.Sprintf(":%v", viper.GetString("metrics-port")),',
          'Addr:              fmt.Sprintf("%v:%v", viper.GetString("http-host"), viper.GetString("metrics-port")), // qcap testenv patch: bind metrics to --http-host',
        ],
      ],
    },
  ],
  "timestamp-server": [
    {
      file: "pkg/server/prometheus.go",
      edits: [
        ['"net/http"', '"net/http"\n\t"os"'],
        ['Addr:         ":2112",', "Addr:         metricsAddr(),"],
      ],
      append:
        '\n// metricsAddr is a qcap testenv patch: TIMESTAMP_METRICS_ADDR overrides the hard-coded ":2112".\nfunc metricsAddr() string {\n\tif a := os.Getenv("TIMESTAMP_METRICS_ADDR"); a != "" {\n\t\treturn a\n\t}\n\treturn ":2112"\n}\n',
    },
  ],
};

function makeWritable(path) {
  const st = statSync(path);
  chmodSync(path, st.mode | (st.isDirectory() ? 0o700 : 0o600));
  if (st.isDirectory()) for (const e of readdirSync(path)) makeWritable(join(path, e));
}

/** Copies the component's module out of the module cache, applies PATCHES and replaces the module with it. */
async function applyPatches(name, c, dir, env, logStream) {
  const patches = PATCHES[name];
  if (!patches) return;
  if (!c.patch) throw new Error(`${name} is patched: set "patch" for it in versions.json`);
  const r = await mustRun(
    "go",
    ["list", "-m", "-f", "{{.Dir}}", c.module],
    { cwd: dir, env, logStream, capture: true },
    `go list -m ${c.module}`,
  );
  const modDir = r.out.trim();
  const dest = join(dir, "patched", name);
  if (modDir === dest) return; // already replaced
  rmSync(dest, { recursive: true, force: true });
  cpSync(modDir, dest, { recursive: true });
  makeWritable(dest);
  for (const p of patches) {
    const file = join(dest, p.file);
    let text = readFileSync(file, "utf8");
    for (const [from, to] of p.edits) {
      if (!text.includes(from)) throw new Error(`patch for ${name}: "${from}" not found in ${p.file}`);
      text = text.replace(from, to);
    }
    writeFileSync(file, text + (p.append ?? ""));
  }
  await mustRun(
    "go",
    ["mod", "edit", `-replace=${c.module}=./patched/${name}`],
    { cwd: dir, env, logStream },
    "go mod edit -replace",
  );
  log(`  ${name}: patched ${patches.map((p) => p.file).join(", ")} (${c.patch})`);
}

async function buildOne(name, versions, env) {
  const c = versions.components[name];
  const out = binaryPath(name, versions);
  const logFile = join(cacheDir(), "logs", `${name}-${c.version}.log`);
  mkdirSync(join(cacheDir(), "logs"), { recursive: true });
  const logStream = createWriteStream(logFile, { flags: "w" });
  const started = Date.now();
  log(`building ${name} ${c.version} (${c.package}); log: ${logFile}`);
  const ticker = setInterval(
    () => log(`  ... ${name} still building (${fmtSeconds(Date.now() - started)})`),
    60_000,
  );
  try {
    const dir = await prepareWrapper(name, c, versions, env, logStream);
    const flags = await ldflags(name, c, dir, env, logStream);
    await applyPatches(name, c, dir, env, logStream);
    mkdirSync(join(out, ".."), { recursive: true });
    const tmp = `${out}.tmp-${process.pid}`;
    await mustRun(
      "go",
      ["build", "-trimpath", "-p", "2", "-ldflags", flags, "-o", tmp, c.package],
      { cwd: dir, env, logStream },
      `go build ${c.package}`,
    );
    renameSync(tmp, out);
    writeFileSync(
      join(out, "..", "build-info.json"),
      `${JSON.stringify({ name, ...c, ldflags: flags, builtAt: new Date().toISOString() }, null, 2)}\n`,
    );
    log(`built ${name} ${c.version} in ${fmtSeconds(Date.now() - started)} -> ${out}`);
  } catch (e) {
    log(`FAILED ${name}: ${e.message}; last lines of ${logFile}:`);
    await new Promise((r) => logStream.end(r));
    const tail = readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n");
    process.stderr.write(`${tail}\n`);
    throw e;
  } finally {
    clearInterval(ticker);
    logStream.end();
  }
}

/** Builds the missing binaries (or all of `names`). Returns the list that was built. */
export async function build({ only, force = false } = {}) {
  const versions = loadVersions();
  const names = only?.length ? only : Object.keys(versions.components);
  const todo = names.filter((n) => force || !existsSync(binaryPath(n, versions)));
  // The independent verifier the attestation tests run (a PyPI install, not a Go build).
  if (!only?.length) await ensureSigstorePython();
  if (todo.length === 0) {
    log(`all ${names.length} binaries are cached in ${cacheDir()}`);
    return [];
  }
  const env = goEnv();
  mkdirSync(join(cacheDir(), "logs"), { recursive: true });
  const goVersion = await checkGo(versions, createWriteStream(join(cacheDir(), "logs", "go-env.log")));
  const started = Date.now();
  log(`go ${goVersion}; building ${todo.length} of ${names.length} binaries: ${todo.join(", ")}`);
  for (const [i, n] of todo.entries()) {
    log(`[${i + 1}/${todo.length}]`);
    await buildOne(n, versions, env);
  }
  log(`build done in ${fmtSeconds(Date.now() - started)}`);
  return todo;
}
