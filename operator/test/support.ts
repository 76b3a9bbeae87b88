// Helpers for the operator's end-to-end tests: the operator as a child process, polling, S3, keys.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { encodeIdentity, generateKeyFile } from "@qcap/core";
import { env, kubectl, type RunResult, run } from "../../testenv/test/helpers.ts";

export { env, kubectl, run };

// The AWS SDK's notice about Node < 22 (printed when a client is made) is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const OPERATOR_MAIN = join(ROOT, "operator/dist/main.js");
export const QCAP_CLI = join(ROOT, "core/dist/cli/main.js");

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`,
      );
    }
    await sleep(intervalMs);
  }
}

export function must(r: RunResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** A fresh namespace (namespaces are never deleted: there is no controller-manager to finish it). */
export async function newNamespace(prefix: string): Promise<string> {
  const ns = `${prefix}-${randomBytes(3).toString("hex")}`;
  must(await kubectl(["create", "namespace", ns]), "create namespace");
  return ns;
}

export async function installCrds() {
  must(
    await kubectl(["apply", "--server-side", "--force-conflicts", "-f", join(ROOT, "crds")]),
    "apply CRDs",
  );
  must(
    await kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd/capsules.qcap.dev",
      "crd/capabilitygrants.qcap.dev",
      "crd/publishers.qcap.dev",
      "crd/clusterpublishers.qcap.dev",
    ]),
    "wait for CRDs",
  );
}

export async function getJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return JSON.parse(must(await kubectl([...args, "-o", "json"]), `kubectl get ${args.join(" ")}`)) as T;
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export interface CapsuleView {
  metadata: { name: string; generation: number; finalizers?: string[]; uid: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    inputsDigest?: string;
    artifact?: {
      url: string;
      key: string;
      revision: string;
      root: string;
      digest: string;
      size: number;
      lastUpdateTime: string;
    };
  };
}

export const condition = (o: { status?: { conditions?: Condition[] } }, type: string) =>
  o.status?.conditions?.find((c) => c.type === type);

/** Waits until Ready has `status` (and `reason`, when given) for the current generation. */
export async function waitReady<T extends CapsuleView>(
  ns: string,
  resource: string,
  status: "True" | "False" = "True",
  reason?: string,
  timeoutMs = 90_000,
): Promise<T> {
  let seen = "nothing";
  return waitFor(
    `${resource} Ready=${status}${reason ? ` (${reason})` : ""} in ${ns}`,
    async () => {
      const o = await getJson<T>(["-n", ns, "get", resource]);
      const c = condition(o, "Ready");
      seen = c ? `${c.status} ${c.reason}: ${c.message}` : "no Ready condition";
      if (
        c?.status === status &&
        (reason === undefined || c.reason === reason) &&
        o.status?.observedGeneration === o.metadata.generation
      )
        return o;
      // Shown when the wait times out.
      throw new Error(`last seen: ${seen}`);
    },
    timeoutMs,
  );
}

// ---- the operator as a child process ----

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

export class OperatorProcess {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  private child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  port = 0;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [OPERATOR_MAIN, ...args], {
      env: { ...process.env, NODE_NO_WARNINGS: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buf = "";
    this.child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      let i = buf.indexOf("\n");
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.raw.push(line);
        try {
          const rec = JSON.parse(line) as LogLine;
          this.lines.push(rec);
          if (rec.msg === "serving health and metrics") this.port = Number(rec.port);
        } catch {
          this.lines.push({ level: "raw", msg: line });
        }
        i = buf.indexOf("\n");
      }
    });
    this.child.stderr?.on("data", (d: Buffer) => this.raw.push(`stderr: ${d.toString("utf8")}`));
    this.exited = new Promise((resolve) =>
      this.child.on("exit", (code, signal) => resolve({ code, signal })),
    );
  }

  get pid() {
    return this.child.pid as number;
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  has(msg: string, pred: (l: LogLine) => boolean = () => true) {
    return this.lines.some((l) => l.msg === msg && pred(l));
  }

  waitLog(msg: string, pred: (l: LogLine) => boolean = () => true, timeoutMs = 60_000) {
    return waitFor(
      `operator log "${msg}"`,
      () => this.lines.find((l) => l.msg === msg && pred(l)),
      timeoutMs,
      100,
    );
  }

  kill(signal: NodeJS.Signals = "SIGKILL") {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }

  async http(path: string) {
    await waitFor("operator port", () => this.port || undefined, 30_000, 50);
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`);
    return { status: res.status, text: await res.text() };
  }

  logText() {
    return this.raw.join("\n");
  }
}

/** Starts the operator for one namespace with short timings; its Lease lives in that namespace. */
export function startOperator(ns: string, extra: string[] = []): OperatorProcess {
  return new OperatorProcess([
    "--kubeconfig",
    env("KUBECONFIG"),
    "--namespaces",
    ns,
    "--listen",
    "127.0.0.1:0",
    "--leader-election-namespace",
    ns,
    "--lease-duration",
    "4s",
    "--renew-deadline",
    "3s",
    "--retry-period",
    "500ms",
    "--backoff",
    "500ms",
    "--max-backoff",
    "4s",
    ...extra,
  ]);
}

// ---- S3 and keys ----

export function s3Client(endpoint = env("AWS_ENDPOINT_URL")) {
  return new S3Client({
    endpoint,
    region: env("AWS_REGION"),
    forcePathStyle: true,
    credentials: { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: env("AWS_SECRET_ACCESS_KEY") },
  });
}

export async function ensureBucket(client: S3Client, bucket: string) {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw err;
  }
}

export async function getObject(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(
    await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

export async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key as string).sort();
}

export interface TestKey {
  file: string;
  text: string;
  recipient: string;
  identity: string;
  publicHex: string;
  seedHex: string;
}

/** A Q-Cap key file (signing key + X25519 identity) in a temp dir. */
export function makeKey(dir: string, name: string): TestKey {
  const k = generateKeyFile();
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  const identity = encodeIdentity(k.identity.secret);
  const text = `${JSON.stringify(
    { type: "qcap-key", version: 1, signing: { ed25519: hex(k.signing.seed) }, identity, public: k.public },
    null,
    2,
  )}\n`;
  const file = join(dir, `${name}.key`);
  writeFileSync(file, text, { mode: 0o600 });
  return {
    file,
    text,
    recipient: k.public.recipient,
    identity,
    publicHex: k.public.ed25519,
    seedHex: hex(k.signing.seed),
  };
}

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `qcap-op-${prefix}-`));

export function qcap(args: string[]) {
  return run(process.execPath, [QCAP_CLI, ...args]);
}

/** `kubectl create secret generic` from the given --from-file / --from-literal arguments. */
export async function createSecret(ns: string, name: string, from: string[], what: string) {
  return must(await kubectl(["-n", ns, "create", "secret", "generic", name, ...from]), what);
}

/** Creates the signing-key Secret, S3 credentials Secret and recipients ConfigMap the examples expect. */
export async function createExamplePrerequisites(
  ns: string,
  publisher: TestKey,
  reader: TestKey,
  dir: string,
) {
  await createSecret(
    ns,
    "qcap-signing-key",
    [`--from-file=signing.key=${publisher.file}`],
    "signing key Secret",
  );
  await createSecret(
    ns,
    "qcap-s3-credentials",
    [
      `--from-literal=AWS_ACCESS_KEY_ID=${env("AWS_ACCESS_KEY_ID")}`,
      `--from-literal=AWS_SECRET_ACCESS_KEY=${env("AWS_SECRET_ACCESS_KEY")}`,
    ],
    "S3 credentials Secret",
  );
  const recipients = join(dir, "recipients.txt");
  writeFileSync(recipients, `# readers of the survey\n${reader.recipient}\n`);
  must(
    await kubectl([
      "-n",
      ns,
      "create",
      "configmap",
      "survey-recipients",
      `--from-file=recipients.txt=${recipients}`,
    ]),
    "recipients ConfigMap",
  );
}

export interface ExampleNamespace {
  ns: string;
  dir: string;
  publisher: TestKey;
  reader: TestKey;
}

/**
 * The CRDs installed, a fresh namespace and temporary folder named after `prefix`, a publisher and a
 * reader key, the Secrets and ConfigMap the examples expect in that namespace, and what the
 * administrator sets up (examples/publisher.yaml: the Publisher writing to `bucket`, the ServiceAccount
 * qcap and its Role).
 */
export async function exampleNamespace(prefix: string, bucket?: string): Promise<ExampleNamespace> {
  await installCrds();
  const ns = await newNamespace(prefix);
  const dir = tempDir(prefix);
  const publisher = makeKey(dir, "publisher");
  const reader = makeKey(dir, "reader");
  await createExamplePrerequisites(ns, publisher, reader, dir);
  await apply(ns, example("publisher.yaml", {}, bucket));
  return { ns, dir, publisher, reader };
}

/** A Role with `rules` bound to the ServiceAccount `sa` (default: qcap) of the namespace. */
export async function allowServiceAccount(ns: string, name: string, rules: object[], sa = "qcap") {
  const role = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name }, rules };
  const binding = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }],
  };
  await apply(ns, JSON.stringify({ apiVersion: "v1", kind: "List", items: [role, binding] }));
}

/** A Publisher (only the first document of examples/publisher.yaml), renamed and changed by `replace`. */
export function examplePublisher(name: string, bucket: string, replace: Record<string, string> = {}) {
  return example("publisher.yaml", { "name: survey-publisher": `name: ${name}`, ...replace }, bucket).split(
    "---",
  )[0] as string;
}

/** `kubectl patch --type=merge` of one object; fails (saying `what`) when kubectl does. */
export async function mergePatch(ns: string, kind: string, name: string, patch: object, what = "patch") {
  return must(
    await kubectl(["-n", ns, "patch", kind, name, "--type=merge", "-p", JSON.stringify(patch)]),
    what,
  );
}

/** A bucket name unique to this run (a registry prefix belongs to one signing key). */
export const uniqueBucket = (name: string) => `qcap-${name}-${randomBytes(4).toString("hex")}`;

/**
 * An example manifest with only the placeholders a user fills in replaced: the S3 endpoint, the
 * bucket (when given) and what `replace` names.
 */
export function example(file: string, replace: Record<string, string> = {}, bucket?: string): string {
  let text = readFileSync(join(ROOT, "examples", file), "utf8").replaceAll(
    "https://s3.example.com",
    env("AWS_ENDPOINT_URL"),
  );
  if (bucket) text = text.replaceAll("bucket: qcap-public", `bucket: ${bucket}`);
  for (const [from, to] of Object.entries(replace)) text = text.replaceAll(from, to);
  return text;
}

export async function apply(ns: string, yaml: string) {
  return must(await kubectl(["-n", ns, "apply", "-f", "-"], yaml), "kubectl apply");
}

export async function events(ns: string, name: string) {
  const list = await getJson<{
    items: { reason: string; message: string; type: string; involvedObject: { name: string } }[];
  }>(["-n", ns, "get", "events"]);
  return list.items.filter((e) => e.involvedObject.name === name);
}

// ---- a private S3 server (versitygw from the testenv), to stop and start without touching others ----

export class PrivateS3 {
  private child: ChildProcess | null = null;
  readonly endpoint: string;
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  async start() {
    for (const d of ["data", "versions", "meta"]) mkdirSync(join(this.dir, d), { recursive: true });
    this.child = spawn(
      join(env("QCAP_TESTENV_BIN"), "versitygw"),
      [
        `--port=127.0.0.1:${this.port}`,
        "--region=us-east-1",
        "--health=/health",
        "--quiet",
        "posix",
        `--versioning-dir=${join(this.dir, "versions")}`,
        `--sidecar=${join(this.dir, "meta")}`,
        join(this.dir, "data"),
      ],
      {
        env: {
          ...process.env,
          ROOT_ACCESS_KEY: env("AWS_ACCESS_KEY_ID"),
          ROOT_SECRET_KEY: env("AWS_SECRET_ACCESS_KEY"),
        },
        stdio: "ignore",
      },
    );
    await waitFor(
      "the private S3 server",
      async () => (await fetch(`${this.endpoint}/health`)).ok,
      30_000,
      100,
    );
  }

  /** SIGSTOP freezes the server (the kernel still accepts connections, nothing answers); SIGCONT thaws it. */
  signal(sig: "SIGSTOP" | "SIGCONT") {
    this.child?.kill(sig);
  }

  async stop() {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await exited;
    this.child = null;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
