// A Capsule author tries to make the operator fetch what only the operator can reach: a metadata-like
// service on 127.0.0.1, directly or through a redirect from an admitted server, and to tell closed
// ports from refused addresses. Nothing is fetched, the status and events never show fetched content
// or its digest, and every failure reads the same.
//
// The administrator's Publisher lists the host 127.0.0.1 (a stand-in for a public artifact host): the
// publisher's host list alone never admits a loopback address; the operator-wide allow-list admits only
// the two ports of the artifact server (and a closed one), so both policies must allow a fetch.
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allowServiceAccount,
  apply,
  type CapsuleView,
  condition,
  ensureBucket,
  events,
  exampleNamespace,
  examplePublisher,
  freePort,
  type OperatorProcess,
  s3Client,
  startOperator,
  type TestKey,
  uniqueBucket,
  waitReady,
} from "./support.ts";

const BUCKET = uniqueBucket("ssrf");
const SECRET = '{"AccessKeyId":"ASIA-metadata","SecretAccessKey":"only-the-node-may-read-this"}\n';
const sha256 = (b: string) => createHash("sha256").update(b).digest("hex");

let ns: string;
let reader: TestKey;
let op: OperatorProcess;
let metadata: Server;
let metadataHits = 0;
let mPort = 0;
let allowed: Server;
let aPort = 0;
let closedPort = 0;

const listen = (s: Server) =>
  new Promise<number>((r) => s.listen(0, "127.0.0.1", () => r((s.address() as { port: number }).port)));

beforeAll(async () => {
  await ensureBucket(s3Client(), BUCKET);
  ({ ns, reader } = await exampleNamespace("ssrf", BUCKET));
  await apply(
    ns,
    examplePublisher("ssrf-publisher", BUCKET, {
      "prefix: registry": "prefix: ssrf",
      "allowedKinds: [configMap, inline]": "allowedKinds: [http]\n    http:\n      allowedHosts: [127.0.0.1]",
    }),
  );
  await allowServiceAccount(ns, "use-ssrf-publisher", [
    {
      apiGroups: ["qcap.dev"],
      resources: ["publishers"],
      resourceNames: ["ssrf-publisher"],
      verbs: ["use"],
    },
  ]);
  metadata = createServer((_req, res) => {
    metadataHits++;
    res.writeHead(200, { "content-length": Buffer.byteLength(SECRET) });
    res.end(SECRET);
  });
  mPort = await listen(metadata);
  // The one server the administrator admitted (a stand-in for a public artifact host).
  allowed = createServer((req, res) => {
    if (req.url?.startsWith("/redirect")) {
      res.writeHead(302, { location: `http://127.0.0.1:${mPort}/latest/meta-data/iam` });
      return res.end();
    }
    if (req.url?.startsWith("/elsewhere")) {
      // Same server, another name: the operator-wide policy admits its address, the publisher not the host.
      res.writeHead(302, { location: `http://localhost:${aPort}/table.csv` });
      return res.end();
    }
    const body = "published table\n";
    res.writeHead(200, { "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  aPort = await listen(allowed);
  closedPort = await freePort();
  op = startOperator(ns, ["--http-source-allow", `127.0.0.1:${aPort},127.0.0.1:${closedPort}`]);
});

afterAll(async () => {
  await op?.kill("SIGKILL");
  metadata?.close();
  allowed?.close();
});

const capsule = (name: string, url: string, sha: string) =>
  JSON.stringify({
    apiVersion: "qcap.dev/v1alpha1",
    kind: "Capsule",
    metadata: { name },
    spec: {
      sources: [{ http: { url, sha256: sha, name: "data.txt" } }],
      recipients: [{ key: reader.recipient }],
      publisherRef: { name: "ssrf-publisher" },
    },
  });

/** Everything an author can read about a Capsule: its status and its events. */
async function authorView(name: string) {
  const o = await waitReady<CapsuleView>(ns, `capsule/${name}`, "False");
  return { o, text: JSON.stringify({ status: o.status, events: await events(ns, name) }) };
}

describe("HTTP sources cannot reach the operator's network", () => {
  it("a metadata-like service on 127.0.0.1 is refused, even pinned to the right digest and on a host the publisher lists", async () => {
    const url = `http://127.0.0.1:${mPort}/latest/meta-data/iam`;
    await apply(ns, capsule("metadata", url, sha256(SECRET)));
    const { o, text } = await authorView("metadata");
    expect(condition(o, "Ready")?.reason).toBe("SourceFetchFailed");
    expect(condition(o, "Ready")?.message).toBe(`${url}: source could not be fetched`);
    expect(o.status?.artifact).toBeUndefined();
    expect(text).not.toContain("only-the-node-may-read-this");
    expect(metadataHits).toBe(0);
  });

  it("a redirect from an admitted server to 127.0.0.1 is refused", async () => {
    const url = `http://127.0.0.1:${aPort}/redirect/table.csv`;
    await apply(ns, capsule("redirected", url, sha256(SECRET)));
    const { o } = await authorView("redirected");
    expect(condition(o, "Ready")?.message).toBe(`${url}: source could not be fetched`);
    expect(metadataHits).toBe(0);
    expect(op.logText()).toContain("is a loopback address");
  });

  it("a redirect to a host the publisher does not list is refused, though the operator-wide policy admits its address", async () => {
    const url = `http://127.0.0.1:${aPort}/elsewhere/table.csv`;
    await apply(ns, capsule("elsewhere", url, sha256("published table\n")));
    const { o } = await authorView("elsewhere");
    expect(condition(o, "Ready")?.reason).toBe("SourceFetchFailed");
    expect(condition(o, "Ready")?.message).toBe(`${url}: source could not be fetched`);
    expect(op.logText()).toContain(`localhost:${aPort} is not a host the publisher lists`);
  });

  it("a digest mismatch never shows the digest of what was fetched, in the status or the events", async () => {
    const url = `http://127.0.0.1:${aPort}/table.csv`;
    const wrong = sha256("what the author guessed\n");
    await apply(ns, capsule("mismatch", url, wrong));
    const o = await waitReady<CapsuleView>(ns, "capsule/mismatch", "False", "DigestMismatch");
    expect(condition(o, "Ready")?.message).toBe(`${url}: the content does not match spec's sha256`);
    const text = JSON.stringify({ status: o.status, events: await events(ns, "mismatch") });
    expect(text).not.toContain(sha256("published table\n"));
    // The admitted server with the right pin publishes.
    await apply(ns, capsule("mismatch", url, sha256("published table\n")));
    await waitReady<CapsuleView>(ns, "capsule/mismatch");
  });

  it("a closed port, a TLS failure and a refused address read the same to the author", async () => {
    const cases = {
      closed: `http://127.0.0.1:${closedPort}/x.csv`,
      tls: `https://127.0.0.1:${aPort}/x.csv`,
      refused: `http://127.0.0.1:${mPort}/x.csv`,
    };
    for (const [name, url] of Object.entries(cases)) await apply(ns, capsule(name, url, sha256("x")));
    const seen: string[] = [];
    for (const [name, url] of Object.entries(cases)) {
      const { o } = await authorView(name);
      const ready = condition(o, "Ready");
      seen.push(`${ready?.reason} ${ready?.message?.replace(url, "URL")}`);
    }
    expect(seen).toEqual(Array(3).fill("SourceFetchFailed URL: source could not be fetched"));
    expect(metadataHits).toBe(0);
  });
});
