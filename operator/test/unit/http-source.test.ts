// HTTP sources under the egress policy, against real local servers: a metadata-like service on
// 127.0.0.1 is never connected to (by address, by name, or through a redirect), failures read the same
// whatever their cause, bodies are bounded, and a digest mismatch never shows the digest.
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEgressPolicy } from "../../src/sources/egress.ts";
import {
  CANNOT_FETCH,
  fetchHttpSource,
  type HttpSourceError,
  type HttpSourceOptions,
  httpSourceInput,
} from "../../src/sources/http.ts";
import { httpHostAllowed } from "../../src/tenancy/policy.ts";

const SECRET = "instance-role-credentials: do-not-leak\n";
const sha256 = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");

let metadata: Server; // what must stay unreachable
let metadataHits = 0;
let allowed: Server; // an "admitted public" server: redirects, big bodies, plain files
let mPort = 0;
let aPort = 0;
let closedPort = 0;

const listen = (s: Server) =>
  new Promise<number>((r) => s.listen(0, "127.0.0.1", () => r((s.address() as { port: number }).port)));

beforeAll(async () => {
  metadata = createServer((_req, res) => {
    metadataHits++;
    res.writeHead(200, { "content-length": Buffer.byteLength(SECRET) });
    res.end(SECRET);
  });
  mPort = await listen(metadata);
  allowed = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname === "/to-metadata-ip") {
      res.writeHead(302, { location: `http://127.0.0.1:${mPort}/latest/meta-data` });
      return res.end();
    }
    if (u.pathname === "/to-metadata-name") {
      res.writeHead(301, { location: `http://localhost:${mPort}/latest/meta-data` });
      return res.end();
    }
    if (u.pathname === "/loop") {
      res.writeHead(302, { location: "/loop" });
      return res.end();
    }
    if (u.pathname === "/trickle") {
      // One byte every 100 ms: never idle long enough for the read timeout.
      res.writeHead(200, { "content-length": 1000 });
      const t = setInterval(() => res.write("x"), 100);
      res.on("close", () => clearInterval(t));
      return;
    }
    if (u.pathname === "/big") {
      // Announces nothing and streams 4 MiB.
      res.writeHead(200);
      for (let i = 0; i < 64; i++) res.write(Buffer.alloc(65536, 1));
      return res.end();
    }
    const body = "public file\n";
    res.writeHead(200, { "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  aPort = await listen(allowed);
  const tmp = createTcpServer();
  closedPort = await new Promise<number>((r) =>
    tmp.listen(0, "127.0.0.1", () => r((tmp.address() as { port: number }).port)),
  );
  await new Promise((r) => tmp.close(r));
});

afterAll(() => {
  metadata?.close();
  allowed?.close();
});

const opts = (allow = ""): HttpSourceOptions => ({
  policy: parseEgressPolicy(allow),
  maxBytes: 1 << 20,
  timeoutMs: 5_000,
});

async function failure(p: Promise<unknown>): Promise<HttpSourceError> {
  try {
    await p;
  } catch (err) {
    return err as HttpSourceError;
  }
  throw new Error("expected a failure");
}

describe("HTTP source egress", () => {
  it("never connects to a metadata-like service on 127.0.0.1, by address or by name", async () => {
    const before = metadataHits;
    for (const url of [
      `http://127.0.0.1:${mPort}/latest/meta-data`,
      `http://localhost:${mPort}/latest/meta-data`,
      `http://[::ffff:127.0.0.1]:${mPort}/latest/meta-data`,
      `http://2130706433:${mPort}/latest/meta-data`,
    ]) {
      const e = await failure(fetchHttpSource(url, opts()));
      expect(e.message).toBe(CANNOT_FETCH);
      expect(e.detail).toMatch(/refused: .*loopback/);
    }
    expect(metadataHits).toBe(before);
  });

  it("refuses a redirect from an admitted server to 127.0.0.1, by address or by name", async () => {
    const before = metadataHits;
    const allow = `127.0.0.1:${aPort}`;
    // The admitted server itself is reachable.
    const ok = await fetchHttpSource(`http://127.0.0.1:${aPort}/file.txt`, opts(allow));
    expect(ok.status).toBe(200);
    for (const path of ["/to-metadata-ip", "/to-metadata-name"]) {
      const e = await failure(fetchHttpSource(`http://127.0.0.1:${aPort}${path}`, opts(allow)));
      expect(e.message).toBe(CANNOT_FETCH);
      expect(e.detail).toMatch(/refused/);
    }
    expect(metadataHits).toBe(before);
    const loop = await failure(fetchHttpSource(`http://127.0.0.1:${aPort}/loop`, opts(allow)));
    expect(loop.detail).toBe("too many redirects");
  });

  it("a closed port, a TLS failure, an unknown name and a refused address read the same", async () => {
    const allow = `127.0.0.1:${closedPort},127.0.0.1:${aPort}`;
    const errors = await Promise.all([
      failure(fetchHttpSource(`http://127.0.0.1:${closedPort}/x`, opts(allow))),
      failure(fetchHttpSource(`https://127.0.0.1:${aPort}/x`, opts(allow))),
      failure(fetchHttpSource("http://no-such-host.invalid/x", opts(allow))),
      failure(fetchHttpSource(`http://127.0.0.1:${mPort}/x`, opts(allow))),
    ]);
    expect(errors.map((e) => e.message)).toEqual([CANNOT_FETCH, CANNOT_FETCH, CANNOT_FETCH, CANNOT_FETCH]);
    // The detail, for the operator log, tells them apart.
    expect(new Set(errors.map((e) => e.detail)).size).toBe(4);
  });

  it("with a publisher's host list, both must allow: the list neither re-admits loopback nor lets a redirect leave it", async () => {
    const before = metadataHits;
    const publisherLists = (hosts: string[]) => (url: string) =>
      httpHostAllowed({ allowedKinds: ["http"], http: { allowedHosts: hosts } }, url);
    // The publisher lists 127.0.0.1, the operator-wide policy admits only the artifact server's port.
    const both = { ...opts(`127.0.0.1:${aPort}`), hostAllowed: publisherLists(["127.0.0.1"]) };
    expect((await fetchHttpSource(`http://127.0.0.1:${aPort}/file.txt`, both)).status).toBe(200);
    const loopback = await failure(fetchHttpSource(`http://127.0.0.1:${mPort}/latest/meta-data`, both));
    expect(loopback.message).toBe(CANNOT_FETCH);
    expect(loopback.detail).toMatch(/refused: .*loopback/);
    // The operator-wide policy admits the artifact server by address whatever the name; the publisher
    // does not list "localhost".
    const renamed = { ...opts(`127.0.0.0/8`), hostAllowed: publisherLists(["127.0.0.1"]) };
    const e = await failure(fetchHttpSource(`http://localhost:${aPort}/file.txt`, renamed));
    expect(e.message).toBe(CANNOT_FETCH);
    expect(e.detail).toBe(`refused: localhost:${aPort} is not a host the publisher lists`);
    // Nor may a redirect from a listed host lead to a host it does not list.
    const hop = await failure(fetchHttpSource(`http://127.0.0.1:${aPort}/to-metadata-name`, renamed));
    expect(hop.detail).toBe(`refused: localhost:${mPort} is not a host the publisher lists`);
    expect(metadataHits).toBe(before);
  });

  it("cuts a body off past maxBytes while streaming", async () => {
    const res = await fetchHttpSource(`http://127.0.0.1:${aPort}/big`, {
      ...opts(`127.0.0.1:${aPort}`),
      maxBytes: 100_000,
    });
    let seen = 0;
    const e = await failure(
      (async () => {
        for await (const c of res.body) seen += c.length;
      })(),
    );
    expect(e.message).toBe("the source is larger than 100000 bytes");
    expect(seen).toBeLessThanOrEqual(100_000);
  });

  it("a body trickling in slower than the deadline is cut off, though no read ever times out", async () => {
    const res = await fetchHttpSource(`http://127.0.0.1:${aPort}/trickle`, {
      ...opts(`127.0.0.1:${aPort}`),
      timeoutMs: 1_000,
      deadlineMs: 700,
    });
    const t0 = Date.now();
    const e = await failure(
      (async () => {
        for await (const _ of res.body) {
          /* drain */
        }
      })(),
    );
    expect(e.message).toBe(CANNOT_FETCH);
    expect(e.detail).toBe("not complete within 700 ms");
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("a digest mismatch says so without the digest of what was fetched", async () => {
    const pinned = sha256("something else\n");
    const { input } = await httpSourceInput(
      { url: `http://127.0.0.1:${aPort}/file.txt?token=abc`, sha256: pinned },
      (f) => `payload/${f}`,
      opts(`127.0.0.1:${aPort}`),
    );
    expect(input.name).toBe("payload/file.txt");
    const e = (await failure(
      (async () => {
        for await (const _ of input.read()) {
          /* drain */
        }
      })(),
    )) as unknown as { reason: string; message: string };
    expect(e.reason).toBe("DigestMismatch");
    expect(e.message).toBe(`http://127.0.0.1:${aPort}/file.txt: the content does not match spec's sha256`);
    expect(e.message).not.toContain(sha256("public file\n"));
  });

  it("an http source at a refused address fails before reading anything, with SourceFetchFailed", async () => {
    const before = metadataHits;
    const e = (await failure(
      httpSourceInput(
        { url: `http://127.0.0.1:${mPort}/latest/meta-data`, sha256: sha256(SECRET) },
        (f) => f,
        opts(),
      ),
    )) as unknown as { reason: string; message: string };
    expect(e.reason).toBe("SourceFetchFailed");
    expect(e.message).toBe(`http://127.0.0.1:${mPort}/latest/meta-data: ${CANNOT_FETCH}`);
    expect(metadataHits).toBe(before);
  });
});
