#!/usr/bin/env node
/**
 * A static file server for the HTTP benchmarks, on 127.0.0.1 only: serves one file with HTTP
 * Range support (single ranges, suffix ranges) and counts what it serves.
 *
 *   node bench/http-server.mjs FILE      prints "PORT" on stdout once listening
 *   GET /stats                           {"requests": n, "bytes": n, "log": [...]}: requests for the
 *                                        file, response body bytes actually sent, and the first
 *                                        LOG_MAX requests as {method, range, status, bytes}
 *   GET /reset                           zeroes the counters and the log
 *   anything else                        the file (HEAD: headers only)
 */
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";

const LOG_MAX = 64;
const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: http-server.mjs FILE\n");
  process.exit(2);
}
let requests = 0;
let bytes = 0;
let log = [];

const server = createServer((req, res) => {
  if (req.url === "/stats") return res.end(JSON.stringify({ requests, bytes, log }));
  if (req.url === "/reset") {
    requests = 0;
    bytes = 0;
    log = [];
    return res.end("{}");
  }
  requests++;
  const entry = { method: req.method, range: req.headers.range ?? null, status: 200, bytes: 0 };
  if (log.length < LOG_MAX) log.push(entry);
  const size = statSync(file).size;
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
  let start = 0;
  let end = size - 1;
  if (m) {
    if (m[1] === "") {
      start = Math.max(0, size - Number(m[2]));
    } else {
      start = Number(m[1]);
      if (m[2] !== "") end = Math.min(end, Number(m[2]));
    }
    if (start > end || start >= size) {
      entry.status = 416;
      res.writeHead(416, { "content-range": `bytes */${size}` });
      return res.end();
    }
    entry.status = 206;
    res.writeHead(206, {
      "content-range": `bytes ${start}-${end}/${size}`,
      "content-length": end - start + 1,
      "accept-ranges": "bytes",
    });
  } else {
    res.writeHead(200, { "content-length": size, "accept-ranges": "bytes" });
  }
  if (end < start || req.method === "HEAD") return res.end();
  // Counted as read from the file into the response, so a client that stops early is charged
  // for what was actually sent (plus at most one read-ahead buffer), not for the whole range.
  const stream = createReadStream(file, { start, end });
  stream.on("data", (d) => {
    bytes += d.length;
    entry.bytes += d.length;
  });
  res.on("close", () => stream.destroy());
  stream.pipe(res);
});

// Node closes idle keep-alive connections after 5 s; a client that spends longer checking a large
// manifest between two requests would then meet a closed socket. Common servers keep them longer
// (nginx 75 s, S3 about 20 s or more).
server.keepAliveTimeout = 75_000;
server.headersTimeout = 80_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
