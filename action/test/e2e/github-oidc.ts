/**
 * A local stand-in for the endpoint GitHub gives jobs with `id-token: write`
 * (ACTIONS_ID_TOKEN_REQUEST_URL + ACTIONS_ID_TOKEN_REQUEST_TOKEN): it checks the bearer token and
 * returns `{ value }` with an ID token minted by the testenv OIDC issuer for the requested audience.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { testenv as env } from "../helpers.js";

export interface TokenEndpoint {
  /** Variables a job with `id-token: write` has. */
  env: { ACTIONS_ID_TOKEN_REQUEST_URL: string; ACTIONS_ID_TOKEN_REQUEST_TOKEN: string };
  /** Requests received: the query's audience and whether the bearer token was right. */
  requests: { audience: string | null; authorized: boolean }[];
  /** ID tokens handed out. */
  tokens: string[];
  close(): Promise<void>;
}

export async function tokenEndpoint(claims: Record<string, string> = {}): Promise<TokenEndpoint> {
  const requestToken = randomBytes(24).toString("hex");
  const requests: TokenEndpoint["requests"] = [];
  const tokens: string[] = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const authorized = req.headers.authorization === `Bearer ${requestToken}`;
    const audience = url.searchParams.get("audience");
    requests.push({ audience, authorized });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (!authorized) return send(401, { message: "bad token" });
    if (req.method !== "GET" || url.pathname !== "/_apis/idtoken") return send(404, { message: "not found" });
    try {
      const minted = await fetch(env("QCAP_OIDC_TOKEN_URL"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...(audience ? { aud: audience } : {}), ...claims }),
      });
      const { token } = (await minted.json()) as { token: string };
      tokens.push(token);
      send(200, { count: 1, value: token });
    } catch (e) {
      send(500, { message: String(e) });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    env: {
      ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${port}/_apis/idtoken?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken,
    },
    requests,
    tokens,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
