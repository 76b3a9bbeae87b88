#!/usr/bin/env node
// Local OpenID Connect issuer for keyless-signing tests (plain Node, no dependencies).
//
//   node testenv/oidc-issuer.mjs --port 0 [--host 127.0.0.1] [--key FILE] [--issuer URL]
//
// Serves
//   GET  /.well-known/openid-configuration  discovery document (issuer = this server's base URL)
//   GET  /jwks                              the RS256 public key
//   POST /token                             mints a signed ID token; JSON body = claims to set or override
//   GET  /token?repository=o/r&ref=...      the same with query parameters (string claims)
//   GET  /healthz
// Tokens look like GitHub Actions ID tokens (aud "sigstore"); see defaultClaims().
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
} from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** Claims of a GitHub Actions ID token for `repository` at `ref`, overridable one by one. */
export function defaultClaims(issuer, input = {}) {
  const repository = String(input.repository ?? "qcap-test/capsule");
  const [owner] = repository.split("/");
  const ref = String(input.ref ?? "refs/heads/main");
  const workflowPath = String(input.workflow_path ?? ".github/workflows/release.yml");
  const sha = String(input.sha ?? createHash("sha1").update(`${repository}@${ref}`).digest("hex"));
  const workflowRef = `${repository}/${workflowPath}@${ref}`;
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: issuer,
    aud: "sigstore",
    sub: `repo:${repository}:ref:${ref}`,
    iat: now,
    nbf: now - 5,
    exp: now + 600,
    jti: randomUUID(),
    actor: owner,
    actor_id: "1000",
    repository,
    repository_id: "123456789",
    repository_owner: owner,
    repository_owner_id: "1000",
    repository_visibility: "public",
    ref,
    ref_type: ref.startsWith("refs/tags/") ? "tag" : "branch",
    ref_protected: "false",
    sha,
    workflow: "release",
    workflow_ref: workflowRef,
    workflow_sha: sha,
    job_workflow_ref: workflowRef,
    job_workflow_sha: sha,
    event_name: "push",
    run_id: "4242",
    run_number: "7",
    run_attempt: "1",
    runner_environment: "github-hosted",
    head_ref: "",
    base_ref: "",
  };
  for (const [k, v] of Object.entries(input)) {
    if (k !== "workflow_path") claims[k] = v;
  }
  return claims;
}

function loadOrCreateKey(file) {
  if (file && existsSync(file)) return createPrivateKey(readFileSync(file));
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  if (file) writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  return privateKey;
}

export function startIssuer({ host = "127.0.0.1", port = 0, keyFile, issuer: fixedIssuer } = {}) {
  const privateKey = loadOrCreateKey(keyFile);
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  const kid = createHash("sha256").update(JSON.stringify(jwk)).digest("base64url").slice(0, 16);
  let issuer = fixedIssuer;

  const mint = (claims) => {
    const header = { alg: "RS256", typ: "JWT", kid };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(sign("sha256", Buffer.from(input), privateKey))}`;
  };

  const send = (res, status, body) => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    if (req.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
      return send(res, 200, {
        issuer,
        jwks_uri: `${issuer}/jwks`,
        token_endpoint: `${issuer}/token`,
        authorization_endpoint: `${issuer}/authorize`,
        response_types_supported: ["id_token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        claims_supported: Object.keys(defaultClaims(issuer)),
        scopes_supported: ["openid"],
      });
    }
    if (req.method === "GET" && url.pathname === "/jwks") {
      return send(res, 200, { keys: [{ ...jwk, kid, use: "sig", alg: "RS256" }] });
    }
    if (req.method === "GET" && url.pathname === "/healthz") return send(res, 200, { ok: true });
    if (url.pathname === "/token" && (req.method === "POST" || req.method === "GET")) {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        let input = Object.fromEntries(url.searchParams);
        const body = Buffer.concat(chunks).toString("utf8").trim();
        if (body) {
          try {
            input = { ...input, ...JSON.parse(body) };
          } catch {
            return send(res, 400, { error: "body must be a JSON object of claims" });
          }
        }
        const claims = defaultClaims(issuer, input);
        const token = mint(claims);
        return send(res, 200, { token, id_token: token, access_token: token, token_type: "Bearer", claims });
      });
      return;
    }
    send(res, 404, { error: "not found" });
  });

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const addr = server.address();
      issuer ??= `http://${host}:${addr.port}`;
      resolve({ server, issuer, port: addr.port, mint, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      key: { type: "string" },
      issuer: { type: "string" },
    },
  });
  const { issuer, port } = await startIssuer({
    host: values.host,
    port: Number(values.port),
    keyFile: values.key,
    issuer: values.issuer,
  });
  process.stdout.write(`oidc-issuer listening on ${values.host}:${port} issuer=${issuer}\n`);
  for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
}
