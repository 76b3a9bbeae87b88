#!/usr/bin/env node
/** qcap-operator: reconciles Capsule and CapabilityGrant resources. */
import { hostname } from "node:os";
import { Command, InvalidArgumentError } from "commander";
import { Controller } from "./controller.js";
import { parseDuration } from "./duration.js";
import { GrantReconciler } from "./grant/reconciler.js";
import { startHealthServer } from "./health.js";
import { KubeClient, loadKubeConfig } from "./kube/client.js";
import { EventRecorder } from "./kube/events.js";
import { LeaderElector } from "./kube/leader.js";
import { createLogger, errorMessage, type Level } from "./log.js";
import { Metrics } from "./metrics.js";
import { setS3Timeouts } from "./s3/client.js";
import { defaultDeny, type EgressPolicy, parseEgressPolicy } from "./sources/egress.js";

const duration = (v: string) => {
  try {
    return parseDuration(v);
  } catch {
    throw new InvalidArgumentError(`not a duration (e.g. 30s, 10m, 1h): ${v}`);
  }
};
const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
};
const size = (v: string) => {
  const m = /^([0-9]+)(Ki|Mi|Gi|Ti)?$/.exec(v);
  if (!m)
    throw new InvalidArgumentError("expected a byte count, optionally with Ki, Mi, Gi or Ti (e.g. 2Gi)");
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 }[m[2] ?? ""] ?? 1;
  return Number(m[1]) * unit;
};
const egressList = (v: string) => {
  try {
    parseEgressPolicy(v);
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err));
  }
  return v;
};
const networkList = (v: string) => {
  try {
    parseEgressPolicy("", [v]);
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err));
  }
  return v;
};
const listen = (v: string) => {
  const m = /^(.*):(\d+)$/.exec(v);
  if (!m) throw new InvalidArgumentError("expected HOST:PORT, e.g. 0.0.0.0:8080");
  return { host: m[1] || "0.0.0.0", port: Number(m[2]) };
};

const program = new Command("qcap-operator")
  .description(
    "Reconciles qcap.dev Capsule and CapabilityGrant resources into published capsules, grants and revocations.",
  )
  .option(
    "--kubeconfig <file>",
    "kubeconfig to use (default: in-cluster service account, then KUBECONFIG / ~/.kube/config)",
  )
  .option("--context <name>", "kubeconfig context")
  .option(
    "--namespaces <list>",
    "comma-separated namespaces to watch (default: all; env QCAP_WATCH_NAMESPACES)",
    process.env.QCAP_WATCH_NAMESPACES,
  )
  .option("--listen <host:port>", "address of /healthz, /readyz and /metrics", listen, listen("0.0.0.0:8080"))
  .option("--no-leader-elect", "do not use leader election (only ever run one replica then)")
  .option(
    "--leader-election-namespace <ns>",
    "namespace of the leader Lease (default: POD_NAMESPACE, else default)",
    process.env.POD_NAMESPACE ?? "default",
  )
  .option("--leader-election-id <name>", "name of the leader Lease", "qcap-operator")
  .option("--lease-duration <d>", "leader lease duration", duration, parseDuration("15s"))
  .option(
    "--renew-deadline <d>",
    "leader gives up after failing to renew this long",
    duration,
    parseDuration("10s"),
  )
  .option("--retry-period <d>", "leader election retry period", duration, parseDuration("2s"))
  .option("--identity <id>", "this replica's identity in the Lease (default: POD_NAME or hostname_pid)")
  .option("--workers <n>", "concurrent reconciles per kind", positive, 2)
  .option("--resync <d>", "reconcile every object at least this often", duration, parseDuration("10m"))
  .option("--backoff <d>", "first retry delay after an error", duration, parseDuration("1s"))
  .option("--max-backoff <d>", "longest retry delay after repeated errors", duration, parseDuration("5m"))
  .option(
    "--shutdown-timeout <d>",
    "on SIGTERM, how long to wait for reconciles in progress",
    duration,
    parseDuration("25s"),
  )
  .option(
    "--max-per-destination <n>",
    "Capsule reconciles at once per S3 destination (endpoint + bucket); default: --workers minus 1, at least 1",
    positive,
  )
  .option("--s3-connect-timeout <d>", "longest wait for a connection to S3", duration, parseDuration("10s"))
  .option(
    "--s3-idle-timeout <d>",
    "an S3 request whose socket stays silent this long fails",
    duration,
    parseDuration("30s"),
  )
  .option(
    "--s3-request-timeout <d>",
    "deadline of one S3 call (one part of a multipart upload), retries included",
    duration,
    parseDuration("5m"),
  )
  .option(
    "--http-source-allow <list>",
    "hosts and networks HTTP sources may reach although private (HOST, HOST:PORT, *.DOMAIN, IP, IP:PORT, [IPv6]:PORT, CIDR; comma-separated; env QCAP_HTTP_SOURCE_ALLOW); the Capsule's publisher must list the host as well",
    egressList,
    process.env.QCAP_HTTP_SOURCE_ALLOW ?? "",
  )
  .option(
    "--http-source-deny <list>",
    "more networks HTTP sources may not reach, e.g. the cluster's service and pod ranges when they are public addresses (IP or CIDR, comma-separated; env QCAP_HTTP_SOURCE_DENY)",
    networkList,
    process.env.QCAP_HTTP_SOURCE_DENY ?? "",
  )
  .option("--http-source-max-size <bytes>", "largest HTTP source (e.g. 512Mi, 2Gi)", size, size("2Gi"))
  .option(
    "--http-source-timeout <d>",
    "an HTTP source fails when connecting, or any read, takes longer",
    duration,
    parseDuration("30s"),
  )
  .option(
    "--http-source-deadline <d>",
    "an HTTP source fails when fetching it takes longer, however steadily bytes arrive",
    duration,
    parseDuration("30m"),
  )
  .option(
    "--default-service-account <name>",
    "ServiceAccount (in the object's namespace) a Capsule or CapabilityGrant without spec.serviceAccountName acts as",
    "qcap",
  )
  .option(
    "--cluster-resource-namespace <ns>",
    "namespace of the Secrets ClusterPublishers refer to (default: POD_NAMESPACE, else qcap-system)",
    process.env.POD_NAMESPACE ?? "qcap-system",
  )
  .option("--log-level <level>", "debug, info, warn or error", "info")
  .showHelpAfterError();

interface Options {
  kubeconfig?: string;
  context?: string;
  namespaces?: string;
  listen: { host: string; port: number };
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  identity?: string;
  workers: number;
  resync: number;
  backoff: number;
  maxBackoff: number;
  shutdownTimeout: number;
  logLevel: string;
  maxPerDestination?: number;
  s3ConnectTimeout: number;
  s3IdleTimeout: number;
  s3RequestTimeout: number;
  httpSourceAllow: string;
  httpSourceDeny: string;
  httpSourceMaxSize: number;
  httpSourceTimeout: number;
  httpSourceDeadline: number;
  defaultServiceAccount: string;
  clusterResourceNamespace: string;
}

async function main() {
  program.parse();
  const o = program.opts<Options>();
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.defaultServiceAccount)) {
    process.stderr.write(`qcap-operator: --default-service-account must be a ServiceAccount name\n`);
    process.exit(2);
  }
  if (!["debug", "info", "warn", "error"].includes(o.logLevel)) {
    process.stderr.write(`qcap-operator: --log-level must be debug, info, warn or error\n`);
    process.exit(2);
  }
  let httpPolicy: EgressPolicy;
  try {
    // The flags are checked by commander; values from the environment only here.
    httpPolicy = parseEgressPolicy(o.httpSourceAllow, [...defaultDeny(), o.httpSourceDeny]);
  } catch (err) {
    process.stderr.write(`qcap-operator: HTTP source policy: ${errorMessage(err)}\n`);
    process.exit(2);
  }
  const identity = o.identity ?? process.env.POD_NAME ?? `${hostname()}_${process.pid}`;
  const log = createLogger(o.logLevel as Level, { component: "qcap-operator", identity });
  const metrics = new Metrics();
  // The AWS SDK prints a multi-line notice on Node < 22 to stderr; say it once as a structured log.
  if (Number(process.versions.node.split(".")[0]) < 22) {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    log.info(
      "AWS SDK versions published after January 2027 need Node >= 22; the pinned version supports Node 20",
      {
        node: process.versions.node,
      },
    );
  }

  let kube: KubeClient;
  try {
    kube = new KubeClient(loadKubeConfig(o.kubeconfig, o.context));
  } catch (err) {
    process.stderr.write(`qcap-operator: cannot load the Kubernetes configuration: ${errorMessage(err)}\n`);
    process.exit(2);
  }
  const namespaces = o.namespaces
    ? o.namespaces
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : null;
  const events = new EventRecorder(kube, "qcap-operator", identity, log);
  setS3Timeouts({ connectMs: o.s3ConnectTimeout, idleMs: o.s3IdleTimeout, requestMs: o.s3RequestTimeout });
  log.info("HTTP source policy", {
    allow: httpPolicy.allow.map((r) => r.text),
    deny: httpPolicy.deny.map(([a, bits]) => `${a}/${bits}`),
  });
  const controller = new Controller(kube, log, metrics, events, {
    namespaces,
    workers: o.workers,
    resyncMs: o.resync,
    baseBackoffMs: o.backoff,
    maxBackoffMs: o.maxBackoff,
    perDestination: o.maxPerDestination,
    httpSources: {
      policy: httpPolicy,
      maxBytes: o.httpSourceMaxSize,
      timeoutMs: o.httpSourceTimeout,
      deadlineMs: o.httpSourceDeadline,
    },
    defaultServiceAccount: o.defaultServiceAccount,
    clusterResourceNamespace: o.clusterResourceNamespace,
  });
  controller.grantReconciler = new GrantReconciler({
    kube,
    events,
    log,
    metrics,
    capsules: controller.capsuleReconciler,
  });

  const elector = o.leaderElect
    ? new LeaderElector(
        kube,
        {
          namespace: o.leaderElectionNamespace,
          name: o.leaderElectionId,
          identity,
          leaseDurationMs: o.leaseDuration,
          renewDeadlineMs: o.renewDeadline,
          retryPeriodMs: o.retryPeriod,
        },
        log,
      )
    : null;

  let broken = false;
  const server = await startHealthServer(
    o.listen,
    {
      live: () => !broken,
      // A standby is ready (it can take over); a leader once its caches are synced.
      ready: () =>
        !broken && (elector ? !elector.isLeader() || controller.hasSynced() : controller.hasSynced()),
    },
    metrics,
  );
  const addr = server.address();
  log.info("serving health and metrics", {
    address: typeof addr === "object" && addr ? `${addr.address}:${addr.port}` : String(addr),
    port: typeof addr === "object" && addr ? addr.port : undefined,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    const timer = setTimeout(() => {
      log.warn("shutdown timeout: exiting with reconciles in progress");
      process.exit(0);
    }, o.shutdownTimeout);
    timer.unref();
    try {
      await controller.stop();
      await elector?.stop();
    } catch (err) {
      log.warn("error during shutdown", { error: errorMessage(err) });
    }
    server.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  const startController = () => {
    metrics.leader.set(1);
    controller.start().catch((err) => {
      broken = true;
      log.error("controller failed to start", { error: errorMessage(err) });
      process.exit(1);
    });
  };
  if (elector) {
    log.info("waiting for leadership", { lease: `${o.leaderElectionNamespace}/${o.leaderElectionId}` });
    await elector.run(startController, () => {
      // Another replica may act now: stop at once, as controller-runtime does.
      metrics.leader.set(0);
      log.error("leadership lost: exiting");
      process.exit(1);
    });
  } else {
    startController();
  }
}

main().catch((err) => {
  process.stderr.write(`qcap-operator: ${errorMessage(err)}\n`);
  process.exit(1);
});
