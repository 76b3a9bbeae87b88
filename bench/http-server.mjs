#!/usr/bin/env node
/**
 * A static file server for the range-read benchmark, on 127.0.0.1 only: serves one file with HTTP
 * Range support (single ranges, suffix ranges) and counts the bytes it sends.
 *
 *   node bench/http-server.mjs FILE      prints "PORT" on stdout once listening
 *   GET /stats                           {"requests": n, "bytes": n}, bytes = response bodies sent
 *   GET /reset                           zeroes the counters
 *   anything else                        the file
 */
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: http-server.mjs FILE\n");
  process.exit(2);
}
let requests = 0;
let bytes = 0;

const server = createServer((req, res) => {
  if (req.url === "/stats") return res.end(JSON.stringify({ requests, bytes }));
  if (req.url === "/reset") {
    requests = 0;
    bytes = 0;
    return res.end("{}");
  }
  requests++;
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
      res.writeHead(416, { "content-range": `bytes */${size}` });
      return res.end();
    }
    res.writeHead(206, {
      "content-range": `bytes ${start}-${end}/${size}`,
      "content-length": end - start + 1,
      "accept-ranges": "bytes",
    });
  } else {
    res.writeHead(200, { "content-length": size, "accept-ranges": "bytes" });
  }
  bytes += end - start + 1;
  if (end < start) return res.end();
  createReadStream(file, { start, end }).pipe(res);
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
