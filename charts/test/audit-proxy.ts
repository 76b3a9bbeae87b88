// A recording reverse proxy in front of the API server: the operator talks TLS to 127.0.0.1 (a throwaway
// self-signed certificate made with the openssl CLI), the proxy forwards each request over TLS (testenv
// CA) with the caller's own bearer token, and records the
// request as the API server's authorizer sees it (verb, API group, resource, subresource, namespace,
// name) together with the response status. Used to compare the chart's RBAC rules with the calls the
// operator really makes.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createServer, request, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ApiCall {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  status: number;
  path: string;
  /** sha256 (16 hex digits) of the bearer token the request carried. */
  bearer: string;
  /** The Impersonate-User header: the user the request acted as ("" for the caller's own). */
  impersonating: string;
}

/** Kubernetes request attributes of a resource request (apiserver's RequestInfoFactory, simplified). */
export function requestAttributes(
  method: string,
  rawUrl: string,
): Omit<ApiCall, "status" | "path" | "bearer" | "impersonating"> | null {
  const url = new URL(rawUrl, "http://x");
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  let rest: string[];
  let group: string;
  if (parts[0] === "api" && parts.length >= 2) {
    group = "";
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 3) {
    group = parts[1] ?? "";
    rest = parts.slice(3);
  } else return null;
  let namespace = "";
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1] ?? "";
    rest = rest.slice(2);
  }
  const [resource = "", name = "", subresource = ""] = rest;
  const watch = ["1", "true"].includes(url.searchParams.get("watch") ?? "");
  const verb =
    {
      GET: name ? "get" : watch ? "watch" : "list",
      HEAD: name ? "get" : "list",
      POST: "create",
      PUT: "update",
      PATCH: "patch",
      DELETE: name ? "delete" : "deletecollection",
    }[method] ?? method.toLowerCase();
  return { verb, group, resource, subresource, namespace, name };
}

export interface AuditProxy {
  url: string;
  /** PEM file of the proxy's certificate (the CA of kubeconfigs that point to the proxy). */
  caFile: string;
  calls: ApiCall[];
  close(): Promise<void>;
}

export const bearerHash = (token: string) => createHash("sha256").update(token).digest("hex").slice(0, 16);

function selfSignedCertificate() {
  const dir = mkdtempSync(join(tmpdir(), "qcap-audit-proxy-"));
  const [key, cert] = [join(dir, "proxy.key"), join(dir, "proxy.crt")];
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=qcap-audit-proxy",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "pipe" },
  );
  return { dir, key: readFileSync(key), cert: readFileSync(cert), certFile: cert };
}

export async function startAuditProxy(upstream: string, upstreamCaFile: string): Promise<AuditProxy> {
  const ca = readFileSync(upstreamCaFile);
  const target = new URL(upstream);
  const calls: ApiCall[] = [];
  const tls = selfSignedCertificate();
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req: IncomingMessage, res) => {
    const attrs = requestAttributes(req.method ?? "GET", req.url ?? "/");
    const auth = req.headers.authorization ?? "";
    const bearer = auth.startsWith("Bearer ") ? bearerHash(auth.slice(7)) : "";
    const impersonating = String(req.headers["impersonate-user"] ?? "");
    const up = request(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
        ca,
        // A connection of its own per request: no socket is shared with other clients in this process.
        agent: false,
      },
      (upRes) => {
        if (attrs)
          calls.push({ ...attrs, status: upRes.statusCode ?? 0, path: req.url ?? "", bearer, impersonating });
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        // A watch sends its headers before any event: pass them on at once.
        res.flushHeaders();
        upRes.pipe(res);
      },
    );
    up.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy error: ${err.message}`);
    });
    req.pipe(up);
    // A watch closed by the client closes the upstream stream too.
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    caFile: tls.certFile,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(tls.dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
