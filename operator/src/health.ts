/** The HTTP endpoints for probes and scraping: /healthz, /readyz, /metrics. */
import { createServer, type Server } from "node:http";
import type { Metrics } from "./metrics.js";

export interface HealthState {
  /** False once the process is broken beyond repair (a restart would help). */
  live(): boolean;
  /** True once caches are synced (leader) or the process is a healthy standby. */
  ready(): boolean;
}

export function startHealthServer(
  bind: { host: string; port: number },
  state: HealthState,
  metrics: Metrics,
): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const text = (code: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(code, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed\n");
    if (path === "/healthz" || path === "/livez")
      return state.live() ? text(200, "ok\n") : text(500, "unhealthy\n");
    if (path === "/readyz") return state.ready() ? text(200, "ok\n") : text(503, "not ready\n");
    if (path === "/metrics") {
      try {
        return text(200, await metrics.registry.metrics(), metrics.registry.contentType);
      } catch {
        return text(500, "metrics unavailable\n");
      }
    }
    return text(404, "not found\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(bind.port, bind.host, () => resolve(server));
  });
}
