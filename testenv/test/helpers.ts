// Test helpers for suites that run against the local control plane (node built-ins only).
import { execFile } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    qcapTestenv: Record<string, string>;
  }
}

/** A variable exported by the testenv global setup (process.env, or the provided context as a fallback). */
export function env(name: string): string {
  const v = process.env[name] ?? inject("qcapTestenv")?.[name];
  if (!v) throw new Error(`${name} is not set: is testenv/global-setup.mjs the project's globalSetup?`);
  return v;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; never rejects on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<RunResult>((resolve) => {
    const child = execFile(
      cmd,
      args,
      { env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export function kubectl(args: string[], input?: string) {
  return run(env("QCAP_KUBECTL"), ["--kubeconfig", env("KUBECONFIG"), ...args], { input });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: () => unknown;
}

/** A request to the Kubernetes API server over TLS (CA from the testenv), as the bearer `token`. */
export function kubeApi(method: string, path: string, token: string | undefined, body?: unknown) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<HttpResult>((resolve, reject) => {
    const req = request(
      `${env("QCAP_KUBE_API_URL")}${path}`,
      {
        method,
        ca: readFileSync(env("QCAP_KUBE_CA")),
        headers: {
          accept: "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload ? { "content-type": "application/json" } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const buf = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: buf,
            json: () => JSON.parse(buf.toString("utf8")),
          });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

// ---- AWS Signature Version 4 (S3, path-style) ----

const sha256hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

function encodeRfc3986(s: string) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface S3Request {
  method: string;
  /** Path-style path: "/bucket" or "/bucket/key" (unencoded). */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** Signs and sends an S3 request to AWS_ENDPOINT_URL with the testenv credentials. */
export async function s3(req: S3Request, creds?: { accessKeyId: string; secretAccessKey: string }) {
  const endpoint = new URL(env("AWS_ENDPOINT_URL"));
  const region = env("AWS_REGION");
  const accessKeyId = creds?.accessKeyId ?? env("AWS_ACCESS_KEY_ID");
  const secretAccessKey = creds?.secretAccessKey ?? env("AWS_SECRET_ACCESS_KEY");
  const body = req.body === undefined ? Buffer.alloc(0) : Buffer.from(req.body);
  const now = new Date();
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const canonicalPath = req.path
    .split("/")
    .map((seg) => encodeRfc3986(seg))
    .join("/");
  const query = Object.entries(req.query ?? {})
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const payloadHash = sha256hex(body);
  const headers: Record<string, string> = {
    host: endpoint.host,
    "x-amz-date": amzDate,
    "x-amz-content-sha256": payloadHash,
  };
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v.trim();
  const signedNames = Object.keys(headers).sort();
  const canonicalRequest = [
    req.method,
    canonicalPath,
    query,
    ...signedNames.map((h) => `${h}:${headers[h]}`),
    "",
    signedNames.join(";"),
    payloadHash,
  ].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256hex(canonicalRequest)].join("\n");
  const kDate = hmac(`AWS4${secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, region), "s3"), "aws4_request");
  const signature = createHmac("sha256", kSigning).update(stringToSign).digest("hex");
  const authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedNames.join(";")}, Signature=${signature}`;
  const { host: _host, ...sendHeaders } = headers;
  const res = await fetch(`${endpoint.origin}${canonicalPath}${query ? `?${query}` : ""}`, {
    method: req.method,
    headers: { ...sendHeaders, authorization },
    body: body.length ? body : undefined,
  });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** TCP ports in LISTEN state (IPv4 and IPv6). */
export function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== "0A") continue;
      const port = cols[1]?.split(":").pop();
      if (port) ports.add(Number.parseInt(port, 16));
    }
  }
  return ports;
}
