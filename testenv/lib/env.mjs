// `up`, `down`, `status`, `env`: the running local control plane.
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  allBinaries,
  currentPointerFile,
  fmtSeconds,
  loadVersions,
  log,
  missingBinaries,
  TESTENV_ROOT,
} from "./common.mjs";
import { fulcioConfig } from "./fulcio-config.mjs";
import { generateCtKey, generateFulcioCa, generatePki, generateRekorKey } from "./pki.mjs";
import {
  freePorts,
  httpRequest,
  isAlive,
  listeningPorts,
  startProcess,
  stopProcess,
  tail,
  waitReady,
} from "./procs.mjs";
import { ctLog, rekorLog, rekorOrigin, splitPem, trustedRoot } from "./trustroot.mjs";

export const TEST_USERS = ["alice", "bob"];
const S3_REGION = "us-east-1";

// Environment for every server: no telemetry, update checks or cloud metadata lookups.
const QUIET_ENV = {
  DO_NOT_TRACK: "1",
  AWS_EC2_METADATA_DISABLED: "true",
  HELM_NO_UPDATE_CHECK: "1",
  ETCD_UNSUPPORTED_ARCH: "",
};

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

/** Finds the state of the environment: the explicit dir, else QCAP_TESTENV_DIR, else the pointer file. */
export function findState(dir) {
  const explicit = dir || process.env.QCAP_TESTENV_DIR;
  const candidates = explicit ? [explicit] : [readJson(currentPointerFile())?.dir].filter(Boolean);
  for (const d of candidates) {
    const s = readJson(join(d, "state.json"));
    if (s) return s;
  }
  return null;
}

function q(v) {
  return `'${String(v).replace(/'/g, `'\\''`)}'`;
}

/** The variables exported to tests and shells (PATH excluded). */
export function envVars(state) {
  return { ...state.env };
}

export function envFileText(state) {
  const lines = Object.entries(envVars(state)).map(([k, v]) => `export ${k}=${q(v)}`);
  lines.push(`export PATH=${q(state.paths.bin)}:"$PATH"`);
  return `${lines.join("\n")}\n`;
}

function kubeconfig(server, caPem, user, token) {
  const ca = Buffer.from(caPem).toString("base64");
  return `apiVersion: v1
kind: Config
clusters:
- name: qcap-testenv
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: ${user}@qcap-testenv
  context:
    cluster: qcap-testenv
    user: ${user}
    namespace: default
current-context: ${user}@qcap-testenv
preferences: {}
`;
}

function saveState(state) {
  writeFileSync(join(state.dir, "state.json"), `${JSON.stringify(state, null, 2)}\n`);
}

async function ok(url, opts, pred = (r) => r.status === 200) {
  const r = await httpRequest(url, opts);
  return pred(r);
}

/** Component -> readiness probe, used by `up` and `status`. */
function probes(state) {
  const p = state.ports;
  return {
    "oidc-issuer": () => ok(`http://127.0.0.1:${p.oidc}/.well-known/openid-configuration`),
    etcd: () => ok(`http://127.0.0.1:${p.etcd}/health`, {}, (r) => r.status === 200 && /"true"/.test(r.body)),
    "kube-apiserver": () =>
      ok(
        `https://127.0.0.1:${p.apiserver}/readyz`,
        { ca: readFileSync(state.paths.caCert), token: state.env.QCAP_KUBE_ADMIN_TOKEN },
        (r) => r.status === 200 && r.body.toString().trim() === "ok",
      ),
    versitygw: () => ok(`http://127.0.0.1:${p.s3}/health`),
    "timestamp-server": () => ok(`http://127.0.0.1:${p.tsa}/api/v1/timestamp/certchain`),
    fulcio: () => ok(`http://127.0.0.1:${p.fulcio}/api/v2/trustBundle`),
    "rekor-server": () => ok(`http://127.0.0.1:${p.rekor}/healthz`),
    tesseract: () => ok(`http://127.0.0.1:${p.ct}/ct/v1/get-roots`),
  };
}

/**
 * Starts every server. Returns the state (also written to <dir>/state.json).
 * Options: dir (default QCAP_TESTENV_DIR or a new temp dir); fresh (always a new temp dir); reuse (return a
 * running environment instead of starting one); setPointer (record it as the default environment).
 */
export async function up({ dir, setPointer = true, reuse = true, fresh = false } = {}) {
  const running = reuse ? findState(dir) : null;
  if (running && Object.values(running.pids).some(isAlive)) {
    log(`already running in ${running.dir} (use \`down\` first)`);
    return running;
  }
  const missing = missingBinaries();
  if (missing.length)
    throw new Error(`binaries missing: ${missing.join(", ")}; run \`node testenv/cli.mjs build\``);
  const started = Date.now();
  const bins = allBinaries();

  // fresh: always a new temp dir (owned, removed by `down`), whatever QCAP_TESTENV_DIR says.
  const wanted = fresh ? undefined : dir || process.env.QCAP_TESTENV_DIR;
  let createdDir = false;
  let baseDir;
  if (wanted) {
    baseDir = resolve(wanted);
    createdDir = !existsSync(baseDir);
    mkdirSync(baseDir, { recursive: true });
  } else {
    baseDir = mkdtempSync(join(tmpdir(), "qcap-testenv-"));
    createdDir = true;
  }
  const sub = (...p) => {
    const d = join(baseDir, ...p);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const logs = sub("logs");
  const pkiDir = sub("pki");
  const binDir = sub("bin");
  for (const [name, path] of Object.entries(bins)) {
    const link = join(binDir, name);
    if (existsSync(link)) unlinkSync(link);
    symlinkSync(path, link);
  }

  const ports = await freePorts({
    oidc: "QCAP_TESTENV_OIDC_PORT",
    etcd: "QCAP_TESTENV_ETCD_PORT",
    etcdPeer: "QCAP_TESTENV_ETCD_PEER_PORT",
    apiserver: "QCAP_TESTENV_APISERVER_PORT",
    s3: "QCAP_TESTENV_S3_PORT",
    tsa: "QCAP_TESTENV_TSA_PORT",
    tsaMetrics: "QCAP_TESTENV_TSA_METRICS_PORT",
    fulcio: "QCAP_TESTENV_FULCIO_PORT",
    fulcioGrpc: "QCAP_TESTENV_FULCIO_GRPC_PORT",
    fulcioMetrics: "QCAP_TESTENV_FULCIO_METRICS_PORT",
    rekor: "QCAP_TESTENV_REKOR_PORT",
    rekorGrpc: "QCAP_TESTENV_REKOR_GRPC_PORT",
    rekorMetrics: "QCAP_TESTENV_REKOR_METRICS_PORT",
    ct: "QCAP_TESTENV_CT_PORT",
  });
  const dupes = Object.values(ports).filter((v, i, a) => a.indexOf(v) !== i);
  if (dupes.length) throw new Error(`port collision: ${dupes.join(", ")}`);

  const tokens = { admin: randomBytes(24).toString("hex") };
  for (const u of TEST_USERS) tokens[u] = randomBytes(24).toString("hex");
  const s3 = {
    accessKey: `qcap${randomBytes(6).toString("hex")}`,
    secretKey: randomBytes(20).toString("hex"),
  };

  const urls = {
    oidc: `http://127.0.0.1:${ports.oidc}`,
    etcd: `http://127.0.0.1:${ports.etcd}`,
    apiserver: `https://127.0.0.1:${ports.apiserver}`,
    s3: `http://127.0.0.1:${ports.s3}`,
    tsa: `http://127.0.0.1:${ports.tsa}`,
    fulcio: `http://127.0.0.1:${ports.fulcio}`,
    rekor: `http://127.0.0.1:${ports.rekor}`,
    ct: `http://127.0.0.1:${ports.ct}`,
  };
  const paths = {
    bin: binDir,
    logs,
    kubeconfig: join(baseDir, "kubeconfig"),
    caCert: join(pkiDir, "ca.crt"),
    trustedRoot: join(baseDir, "trusted_root.json"),
    envFile: join(baseDir, "env"),
    s3Data: sub("s3", "data"),
  };
  const state = {
    version: 1,
    dir: baseDir,
    createdDir,
    startedAt: new Date().toISOString(),
    ports,
    urls,
    paths,
    pids: {},
    binaries: bins,
    env: {},
  };
  state.env = {
    QCAP_TESTENV_DIR: baseDir,
    KUBECONFIG: paths.kubeconfig,
    QCAP_KUBE_API_URL: urls.apiserver,
    QCAP_KUBE_VERSION: loadVersions().components["kube-apiserver"].version,
    QCAP_KUBE_CA: paths.caCert,
    QCAP_KUBE_ADMIN_TOKEN: tokens.admin,
    ...Object.fromEntries(TEST_USERS.map((u) => [`QCAP_KUBE_${u.toUpperCase()}_TOKEN`, tokens[u]])),
    ...Object.fromEntries(
      TEST_USERS.map((u) => [`QCAP_KUBECONFIG_${u.toUpperCase()}`, join(baseDir, `kubeconfig-${u}`)]),
    ),
    QCAP_ETCD_URL: urls.etcd,
    AWS_ENDPOINT_URL: urls.s3,
    AWS_ENDPOINT_URL_S3: urls.s3,
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
    AWS_REGION: S3_REGION,
    AWS_DEFAULT_REGION: S3_REGION,
    AWS_EC2_METADATA_DISABLED: "true",
    QCAP_S3_FORCE_PATH_STYLE: "true",
    QCAP_FULCIO_URL: urls.fulcio,
    QCAP_TSA_URL: urls.tsa,
    QCAP_REKOR_URL: urls.rekor,
    QCAP_COSIGN: join(binDir, "cosign"),
    QCAP_OIDC_ISSUER_URL: urls.oidc,
    QCAP_OIDC_TOKEN_URL: `${urls.oidc}/token`,
    QCAP_TRUSTED_ROOT: paths.trustedRoot,
    QCAP_KUBECTL: join(binDir, "kubectl"),
    QCAP_HELM: join(binDir, "helm"),
    QCAP_KUBECONFORM: join(binDir, "kubeconform"),
    QCAP_ACTIONLINT: join(binDir, "actionlint"),
    QCAP_TESTENV_BIN: binDir,
    KUBECACHEDIR: join(baseDir, "kube-cache"),
    HELM_CACHE_HOME: join(baseDir, "helm", "cache"),
    HELM_CONFIG_HOME: join(baseDir, "helm", "config"),
    HELM_DATA_HOME: join(baseDir, "helm", "data"),
  };
  saveState(state);
  // The default location for `down`/`status`/`env`; a live environment keeps its pointer.
  const current = readJson(currentPointerFile())?.dir;
  const currentState = current ? readJson(join(current, "state.json")) : null;
  if (setPointer && !(currentState && Object.values(currentState.pids ?? {}).some(isAlive))) {
    writeFileSync(currentPointerFile(), `${JSON.stringify({ dir: baseDir }, null, 2)}\n`);
  }

  const procs = [];
  const start = (name, cmd, args, env = {}) => {
    const proc = startProcess({
      name,
      cmd,
      args,
      env: { ...QUIET_ENV, ...env },
      cwd: baseDir,
      logFile: join(logs, `${name}.log`),
    });
    procs.push(proc);
    state.pids[name] = proc.pid;
    saveState(state);
    return proc;
  };
  const check = probes(state);
  const ready = async (proc, timeoutMs) => {
    const ms = await waitReady(proc, check[proc.name], timeoutMs);
    log(`  ${proc.name} ready (${fmtSeconds(ms)})`);
  };

  try {
    log(`starting in ${baseDir}`);
    const pki = await generatePki(pkiDir);
    writeFileSync(
      join(pkiDir, "tokens.csv"),
      [
        `${tokens.admin},qcap-admin,qcap-admin,"system:masters"`,
        ...TEST_USERS.map((u) => `${tokens[u]},${u},${u},"qcap:test-users"`),
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const caPem = readFileSync(pki.caCert, "utf8");
    writeFileSync(paths.kubeconfig, kubeconfig(urls.apiserver, caPem, "qcap-admin", tokens.admin), {
      mode: 0o600,
    });
    for (const u of TEST_USERS) {
      writeFileSync(join(baseDir, `kubeconfig-${u}`), kubeconfig(urls.apiserver, caPem, u, tokens[u]), {
        mode: 0o600,
      });
    }

    // Local OIDC issuer (plain Node).
    const oidc = start("oidc-issuer", process.execPath, [
      join(TESTENV_ROOT, "oidc-issuer.mjs"),
      "--host",
      "127.0.0.1",
      "--port",
      String(ports.oidc),
      "--key",
      join(pkiDir, "oidc-signing-key.pem"),
    ]);

    const etcd = start("etcd", bins.etcd, [
      "--name=qcap",
      `--data-dir=${sub("etcd")}`,
      `--listen-client-urls=${urls.etcd}`,
      `--advertise-client-urls=${urls.etcd}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=qcap=http://127.0.0.1:${ports.etcdPeer}`,
      "--initial-cluster-state=new",
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);

    // S3: versitygw, posix backend. Metadata goes to a sidecar dir so the data dir needs no user xattrs
    // (set QCAP_TESTENV_S3_XATTR=1 to keep metadata in xattrs instead).
    const posixArgs = ["posix", `--versioning-dir=${sub("s3", "versions")}`];
    if (process.env.QCAP_TESTENV_S3_XATTR !== "1") posixArgs.push(`--sidecar=${sub("s3", "meta")}`);
    const s3proc = start(
      "versitygw",
      bins.versitygw,
      [
        `--port=127.0.0.1:${ports.s3}`,
        `--region=${S3_REGION}`,
        "--health=/health",
        "--quiet",
        ...posixArgs,
        paths.s3Data,
      ],
      { ROOT_ACCESS_KEY: s3.accessKey, ROOT_SECRET_KEY: s3.secretKey },
    );

    // TSA: in-memory signer (new chain at every start), no NTP monitoring. Metrics bound to loopback by
    // the TIMESTAMP_METRICS_ADDR build patch (see lib/build.mjs).
    const tsa = start(
      "timestamp-server",
      bins["timestamp-server"],
      [
        "serve",
        "--host=127.0.0.1",
        `--port=${ports.tsa}`,
        "--timestamp-signer=memory",
        "--disable-ntp-monitoring",
        "--log-type=prod",
      ],
      { TIMESTAMP_METRICS_ADDR: `127.0.0.1:${ports.tsaMetrics}` },
    );

    await Promise.all([ready(oidc, 15_000), ready(etcd, 30_000)]);

    const apiserver = start("kube-apiserver", bins["kube-apiserver"], [
      `--etcd-servers=${urls.etcd}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${ports.apiserver}`,
      `--cert-dir=${sub("apiserver")}`,
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--token-auth-file=${join(pkiDir, "tokens.csv")}`,
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--endpoint-reconciler-type=none",
      "--allow-privileged=true",
      "--profiling=false",
      "--v=0",
    ]);

    // CT log (TesseraCT, POSIX storage) for Fulcio's certificates: standard verifiers require an SCT.
    // Fulcio's CA is made first (a file CA) so that the log accepts chains to it.
    const fulcioCaPassword = randomBytes(16).toString("hex");
    const fulcioCa = await generateFulcioCa(pkiDir, fulcioCaPassword);
    const ctKey = join(pkiDir, "ct.key");
    await generateCtKey(ctKey);
    const ct = start("tesseract", bins.tesseract, [
      `--http_endpoint=127.0.0.1:${ports.ct}`,
      // The checkpoint origin: any URL without scheme and without a colon in its first segment.
      "--origin=127.0.0.1/qcap-testenv-ct",
      `--storage_dir=${sub("ct")}`,
      `--private_key=${ctKey}`,
      `--roots_pem_file=${fulcioCa.cert}`,
      "--checkpoint_interval=500ms",
    ]);
    await ready(ct, 30_000);

    const fulcioCfg = join(sub("fulcio"), "config.json");
    writeFileSync(fulcioCfg, `${JSON.stringify(fulcioConfig(urls.oidc), null, 2)}\n`);
    const fulcio = start("fulcio", bins.fulcio, [
      "serve",
      "--host=127.0.0.1",
      `--port=${ports.fulcio}`,
      "--grpc-host=127.0.0.1",
      `--grpc-port=${ports.fulcioGrpc}`,
      `--legacy-unix-domain-socket=@qcap-testenv-fulcio-${ports.fulcio}`,
      `--metrics-port=${ports.fulcioMetrics}`,
      "--ca=fileca",
      `--fileca-cert=${fulcioCa.cert}`,
      `--fileca-key=${fulcioCa.key}`,
      `--fileca-key-passwd=${fulcioCaPassword}`,
      `--ct-log-url=${urls.ct}`,
      `--config-path=${fulcioCfg}`,
      "--log_type=prod",
    ]);

    // Rekor v2 (rekor-tiles, POSIX storage): a checkpoint every second so that an entry is logged quickly.
    const rekorKey = join(pkiDir, "rekor.key");
    await generateRekorKey(rekorKey);
    const rekor = start("rekor-server", bins["rekor-server"], [
      "serve",
      "--http-address=127.0.0.1",
      `--http-port=${ports.rekor}`,
      "--grpc-address=127.0.0.1",
      `--grpc-port=${ports.rekorGrpc}`,
      `--http-metrics-port=${ports.rekorMetrics}`,
      `--hostname=${rekorOrigin(urls.rekor)}`,
      `--storage-dir=${sub("rekor")}`,
      `--signer-filepath=${rekorKey}`,
      "--checkpoint-interval=1s",
      "--batch-max-age=100ms",
      "--log-level=warn",
    ]);

    await Promise.all([
      ready(s3proc, 30_000),
      ready(tsa, 30_000),
      ready(fulcio, 30_000),
      ready(rekor, 30_000),
      ready(apiserver, 120_000),
    ]);

    // Trusted root from the live Fulcio CA and TSA chains.
    const bundle = JSON.parse((await httpRequest(`${urls.fulcio}/api/v2/trustBundle`)).body.toString());
    const fulcioChain = bundle.chains?.[0]?.certificates ?? [];
    const tsaChain = splitPem((await httpRequest(`${urls.tsa}/api/v1/timestamp/certchain`)).body.toString());
    const root = trustedRoot({
      fulcioUrl: urls.fulcio,
      fulcioChain,
      tsaUrl: urls.tsa,
      tsaChain,
      tlogs: [rekorLog(urls.rekor, readFileSync(rekorKey, "utf8"))],
      ctlogs: [ctLog(urls.ct, readFileSync(ctKey, "utf8"))],
    });
    writeFileSync(paths.trustedRoot, `${JSON.stringify(root, null, 2)}\n`);

    writeFileSync(paths.envFile, envFileText(state));
    state.readyAt = new Date().toISOString();
    state.upSeconds = (Date.now() - started) / 1000;
    saveState(state);
    log(`up in ${fmtSeconds(Date.now() - started)}: ${baseDir}`);
    return state;
  } catch (e) {
    log(`start failed: ${e.message}`);
    for (const p of procs) {
      process.stderr.write(`\n----- ${p.name} (${p.logFile}) -----\n${tail(p.logFile, 30)}\n`);
    }
    await down({ state, keep: true, quiet: true });
    log(`logs kept in ${baseDir}`);
    throw e;
  }
}

/** Stops every process of the environment and removes its dir (unless keep). Returns leftover ports. */
export async function down({ dir, state, keep = process.env.QCAP_TESTENV_KEEP === "1", quiet = false } = {}) {
  const s = state ?? findState(dir);
  if (!s) {
    if (!quiet) log("no environment found");
    return { leftoverPorts: [] };
  }
  const order = [
    "rekor-server",
    "fulcio",
    "timestamp-server",
    "versitygw",
    "kube-apiserver",
    "etcd",
    "oidc-issuer",
  ];
  const names = [...order.filter((n) => s.pids[n]), ...Object.keys(s.pids).filter((n) => !order.includes(n))];
  for (const name of names) {
    const how = await stopProcess(s.pids[name], 10_000);
    if (!quiet) log(`  ${name} (pid ${s.pids[name]}): ${how}`);
  }
  const ports = new Set(Object.values(s.ports));
  let leftover = [];
  for (let i = 0; i < 50; i++) {
    const listening = listeningPorts();
    leftover = [...ports].filter((p) => listening.has(p));
    if (leftover.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (leftover.length) log(`WARNING: ports still listening: ${leftover.join(", ")}`);
  const pointer = readJson(currentPointerFile());
  if (pointer?.dir === s.dir) rmSync(currentPointerFile(), { force: true });
  if (!keep) {
    if (s.createdDir) rmSync(s.dir, { recursive: true, force: true });
    else {
      for (const entry of [
        "logs",
        "pki",
        "bin",
        "etcd",
        "s3",
        "apiserver",
        "fulcio",
        "rekor",
        "helm",
        "kube-cache",
      ]) {
        rmSync(join(s.dir, entry), { recursive: true, force: true });
      }
    }
    if (!quiet) log(`stopped; removed ${s.dir}`);
  } else if (!quiet) {
    log(`stopped; kept ${s.dir}`);
  }
  return { leftoverPorts: leftover };
}

/** Per-component status: pid alive and answering its readiness probe. */
export async function status({ dir } = {}) {
  const s = findState(dir);
  if (!s) return null;
  const check = probes(s);
  const rows = [];
  for (const [name, pid] of Object.entries(s.pids)) {
    const alive = isAlive(pid);
    let answers = false;
    if (alive) {
      try {
        answers = Boolean(await check[name]?.());
      } catch {
        answers = false;
      }
    }
    rows.push({ name, pid, alive, answers });
  }
  return { state: s, rows };
}
