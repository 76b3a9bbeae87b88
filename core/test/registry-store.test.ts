/**
 * The registry's compare-and-swap updates against a small in-process S3 stand-in whose behaviour the
 * tests choose: a writer that sneaks in between read and write, a server that ignores conditional
 * headers, one that always conflicts. (The real server is exercised in testenv/test/registry-cli.)
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { emptyIndex, type RegistryEntry, serializeIndex, withEntry } from "../src/registry/layout.js";
import { RegistryError } from "../src/registry/s3-errors.js";
import { honoursConditionalWrites, updateIndex } from "../src/registry/s3-store.js";
import { cliPath } from "./helpers.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

type Mode = "honour" | "ignore" | "reject-headers" | "always-conflict";

interface Fake {
  mode: Mode;
  objects: Map<string, Buffer>;
  /** Runs once right after the next GET of index.json was answered (another writer's update). */
  afterIndexGet?: (() => void) | undefined;
  indexPuts: number;
  /** Served once by the next GET of index.json with the current ETag: a body published late. */
  staleBody?: Buffer | undefined;
}

const fake: Fake = { mode: "honour", objects: new Map(), indexPuts: 0 };
const etagOf = (b: Buffer) => `"${createHash("md5").update(b).digest("hex")}"`;

function xmlError(res: ServerResponse, status: number, code: string) {
  res.writeHead(status, { "content-type": "application/xml" });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`,
  );
}

function handle(req: IncomingMessage, res: ServerResponse, body: Buffer) {
  const key = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).replace(/^\/bucket\//, "");
  const current = fake.objects.get(key);
  if (req.method === "GET" || req.method === "HEAD") {
    if (!current) return xmlError(res, 404, "NoSuchKey");
    const stale = req.method === "GET" && key.endsWith("index.json") ? fake.staleBody : undefined;
    if (stale) fake.staleBody = undefined;
    const body = stale ?? current;
    res.writeHead(200, { etag: etagOf(current), "content-length": body.length });
    res.end(req.method === "GET" ? body : undefined);
    const after = fake.afterIndexGet;
    if (key.endsWith("index.json") && req.method === "GET" && after) {
      fake.afterIndexGet = undefined;
      after();
    }
    return;
  }
  if (req.method === "DELETE") {
    fake.objects.delete(key);
    return res.writeHead(204).end();
  }
  if (req.method === "PUT") {
    const ifMatch = req.headers["if-match"];
    const ifNoneMatch = req.headers["if-none-match"];
    const conditional = ifMatch !== undefined || ifNoneMatch !== undefined;
    if (key.endsWith("index.json")) fake.indexPuts++;
    if (conditional && fake.mode === "reject-headers") return xmlError(res, 501, "NotImplemented");
    if (conditional && fake.mode === "always-conflict" && key.endsWith("index.json"))
      return xmlError(res, 412, "PreconditionFailed");
    if (fake.mode !== "ignore") {
      if (ifNoneMatch === "*" && current) return xmlError(res, 412, "PreconditionFailed");
      if (ifMatch !== undefined && !current) return xmlError(res, 404, "NoSuchKey");
      if (ifMatch !== undefined && current && ifMatch !== etagOf(current))
        return xmlError(res, 412, "PreconditionFailed");
    }
    fake.objects.set(key, body);
    res.writeHead(200, { etag: etagOf(body) });
    return res.end();
  }
  xmlError(res, 405, "MethodNotAllowed");
}

let server: Server;
let endpoint: string;
const clients: S3Client[] = [];
function location() {
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "k", secretAccessKey: "s" },
    maxAttempts: 1,
  });
  clients.push(client);
  return { client, bucket: "bucket", prefix: "reg" };
}

const entry = (name: string, root = "ab".repeat(32)): RegistryEntry => ({
  namespace: "default",
  name,
  revision: "sha256:00",
  root,
  size: 1,
  digest: "sha256:00",
  url: `https://example.org/${name}.qcap`,
  key: `reg/default/${name}/x.qcap`,
  issuer: "cd".repeat(32),
  sealed: false,
  updated: new Date().toISOString(),
});

const storedIndex = () => JSON.parse(fake.objects.get("reg/index.json")?.toString() ?? "null");

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  fake.mode = "honour";
  fake.objects.clear();
  fake.afterIndexGet = undefined;
  fake.staleBody = undefined;
  fake.indexPuts = 0;
});

describe("registry index updates", () => {
  it("creates the index with If-None-Match and writes index.html beside it", async () => {
    const r = await updateIndex(location(), "default", "a", entry("a"));
    expect(r.attempts).toBe(1);
    expect(storedIndex().capsules.map((c: RegistryEntry) => c.name)).toEqual(["a"]);
    expect(fake.objects.get("reg/index.html")?.toString()).toContain("default/a");
    // The probe object is removed again.
    expect([...fake.objects.keys()].filter((k) => k.includes("probe"))).toEqual([]);
  });

  it("re-reads and re-applies when another writer changed the index in between: no entry lost", async () => {
    const loc = location();
    await updateIndex(loc, "default", "a", entry("a"));
    // Another publisher updates the index right after our read of it.
    let sneaked = false;
    fake.afterIndexGet = () => {
      const { index } = withEntry(storedIndex(), "default", "foreign", entry("foreign"));
      fake.objects.set("reg/index.json", Buffer.from(serializeIndex(index)));
      sneaked = true;
    };
    const r = await updateIndex(loc, "default", "b", entry("b"), { baseDelayMs: 1 });
    expect(sneaked).toBe(true);
    expect(r.attempts).toBe(2);
    expect(storedIndex().capsules.map((c: RegistryEntry) => c.name)).toEqual(["a", "b", "foreign"]);
    expect(fake.objects.get("reg/index.html")?.toString()).toContain("default/foreign");
  });

  it("reads again when the body does not match its ETag (a new ETag published before the new body)", async () => {
    const loc = location();
    await updateIndex(loc, "default", "a", entry("a"));
    const old = fake.objects.get("reg/index.json") as Buffer;
    await updateIndex(loc, "default", "foreign", entry("foreign"));
    // The old body with the new ETag would pass If-Match and drop "foreign".
    fake.staleBody = old;
    await updateIndex(loc, "default", "b", entry("b"));
    expect(fake.staleBody).toBeUndefined();
    expect(storedIndex().capsules.map((c: RegistryEntry) => c.name)).toEqual(["a", "b", "foreign"]);
  });

  it("passes the replaced entry to the update, and returns it", async () => {
    const loc = location();
    await updateIndex(loc, "default", "a", entry("a", "11".repeat(32)));
    const r = await updateIndex(loc, "default", "a", (previous) => ({
      ...entry("a", "22".repeat(32)),
      key: "reg/default/a/y.qcap",
      ...(previous ? { previousKey: previous.key } : {}),
    }));
    expect(r.previous?.root).toBe("11".repeat(32));
    expect(storedIndex().capsules[0]).toMatchObject({
      root: "22".repeat(32),
      previousKey: "reg/default/a/x.qcap",
    });
  });

  it("gives up after the bounded number of conflicting writes", async () => {
    fake.mode = "always-conflict";
    const err = await updateIndex(location(), "default", "a", entry("a"), {
      maxAttempts: 3,
      baseDelayMs: 1,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.code).toBe("conflict");
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/gave up after 3 conflicting writes/);
    expect(fake.indexPuts).toBe(3);
  });

  it("refuses to update on a server that ignores conditional writes", async () => {
    fake.mode = "ignore";
    const loc = location();
    expect(await honoursConditionalWrites(loc)).toBe(false);
    const err = await updateIndex(loc, "default", "a", entry("a")).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.code).toBe("unconditional-server");
    expect(err.message).toMatch(/ignores conditional writes/);
    expect(fake.objects.has("reg/index.json")).toBe(false);
  });

  it("updates such a server only when asked to, checking the result by reading it back", async () => {
    fake.mode = "ignore";
    const r = await updateIndex(location(), "default", "a", entry("a"), { unconditional: "verify" });
    expect(r.attempts).toBe(1);
    expect(storedIndex().capsules.map((c: RegistryEntry) => c.name)).toEqual(["a"]);
  });

  it("counts a server that rejects the headers as one without compare-and-swap", async () => {
    fake.mode = "reject-headers";
    expect(await honoursConditionalWrites(location())).toBe(false);
    fake.mode = "honour";
    expect(await honoursConditionalWrites(location())).toBe(true);
  });

  it("refuses an index.json that is not a registry", async () => {
    fake.objects.set("reg/index.json", Buffer.from(JSON.stringify({ ...emptyIndex(), kind: "other" })));
    const err = await updateIndex(location(), "default", "a", entry("a")).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.code).toBe("not-a-registry");
    expect(err.exitCode).toBe(2);
  });
});

describe("qcap publish on a server without conditional writes", () => {
  const dir = mkdtempSync(join(tmpdir(), "qcap-uncond-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const qcap = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [cliPath, ...args],
        {
          env: {
            PATH: process.env.PATH,
            HOME: dir,
            QCAP_CONFIG_DIR: join(dir, "cfg"),
            AWS_CONFIG_FILE: join(dir, "none"),
            AWS_SHARED_CREDENTIALS_FILE: join(dir, "none"),
            AWS_ACCESS_KEY_ID: "k",
            AWS_SECRET_ACCESS_KEY: "s",
            AWS_ENDPOINT_URL: endpoint,
          },
        },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
      ),
    );

  it("refuses to publish, and publishes with --unsafe-unconditional-writes", async () => {
    expect((await qcap("keygen", "-o", join(dir, "k.key"), "--unprotected")).code).toBe(0);
    mkdirSync(join(dir, "data"));
    writeFileSync(join(dir, "data", "a.txt"), "a\n");
    const packed = await qcap(
      "pack",
      join(dir, "data"),
      "-o",
      join(dir, "a.qcap"),
      "--unsealed",
      "--sign-key",
      join(dir, "k.key"),
    );
    expect(packed.code, packed.stderr).toBe(0);
    fake.mode = "ignore";
    const refused = await qcap("publish", join(dir, "a.qcap"), "s3://bucket/reg", "--path-style");
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toMatch(
      /^qcap: the S3 server of bucket "bucket" ignores conditional writes/,
    );
    expect(fake.objects.has("reg/index.json")).toBe(false);
    expect([...fake.objects.keys()].filter((k) => k.endsWith(".qcap"))).toEqual([]);

    const r = await qcap(
      "publish",
      join(dir, "a.qcap"),
      "s3://bucket/reg",
      "--path-style",
      "--unsafe-unconditional-writes",
      "--json",
    );
    expect(r.code, r.stderr).toBe(0);
    expect(storedIndex().capsules.map((c: RegistryEntry) => c.name)).toEqual(["a"]);
  });
});
