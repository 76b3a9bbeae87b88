/** httpSource on a server that drops a kept-alive connection when the next request arrives on it. */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { httpSource } from "../src/io/source.js";

const body = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
let server: Server;
let base: string;
const perConnection: number[] = [];
let drops = 0;

// A minimal HTTP/1.1 server with keep-alive: the first time a second request arrives on a
// connection, it closes that connection without an answer, as a server whose idle timeout fires just
// as the client reuses the connection.
function serve(socket: Socket) {
  const id = perConnection.push(0) - 1;
  let buffered = "";
  socket.on("data", (chunk) => {
    buffered += chunk.toString("latin1");
    while (buffered.includes("\r\n\r\n")) {
      const end = buffered.indexOf("\r\n\r\n");
      const head = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      perConnection[id] = (perConnection[id] ?? 0) + 1;
      if ((perConnection[id] ?? 0) > 1 && drops === 0) {
        drops++;
        socket.destroy();
        return;
      }
      const m = /^range: bytes=(\d*)-(\d*)$/im.exec(head);
      let first = 0;
      let last = body.length - 1;
      if (m?.[1] === "" && m[2]) first = Math.max(0, body.length - Number(m[2]));
      else if (m) {
        first = Number(m[1]);
        last = Math.min(Number(m[2]), body.length - 1);
      }
      const part = body.subarray(first, last + 1);
      socket.write(
        "HTTP/1.1 206 Partial Content\r\nConnection: keep-alive\r\n" +
          `Content-Range: bytes ${first}-${last}/${body.length}\r\nContent-Length: ${part.length}\r\n\r\n`,
      );
      socket.write(part);
    }
  });
  socket.on("error", () => {});
}

beforeAll(async () => {
  server = createServer(serve);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

test("a range read whose kept-alive connection is closed under it is sent again on a new connection", async () => {
  const src = await httpSource(`${base}/x.qcap`, { tail: 16 });
  expect(src.size).toBe(body.length);
  for (const offset of [100, 700, 1300, 1900]) {
    const got = await src.read(offset, 200);
    expect(Buffer.from(got).equals(Buffer.from(body.subarray(offset, offset + 200)))).toBe(true);
  }
  // One read went out on a kept-alive connection, was dropped, and was answered on a new one.
  expect(drops).toBe(1);
  expect(src.requests).toBe(1 + 4 + 1);
  await src.close?.();
});
