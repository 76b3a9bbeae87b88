/**
 * `qcap publish`, `ls` and `fetch` end to end against the S3 server (versitygw): the registry layout,
 * fetch by name, @latest and @ROOT, refusal of tampered artifacts, clear errors, an http(s) registry,
 * and concurrent publishers to one prefix that keep every entry.
 */
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type RegistryEntry, updateEntry } from "@qcap/core/registry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { env, type RunResult, run } from "./helpers.js";
import { s3Client } from "./s3-client.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const cli = join(import.meta.dirname, "..", "..", "core", "dist", "cli", "main.js");
const bucket = `qcap-reg-${randomBytes(4).toString("hex")}`;
const registry = `s3://${bucket}/capsules`;

let dir: string;
let client: S3Client;
let cliEnv: NodeJS.ProcessEnv;
let proxy: Server;
let proxyUrl: string;

const qcap = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
  run(process.execPath, [cli, ...args], { env: { ...cliEnv, ...extra } });
const json = (r: RunResult) => JSON.parse(r.stdout) as Record<string, unknown>;
const p = (...names: string[]) => join(dir, ...names);

async function getText(key: string): Promise<string> {
  const o = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (o.Body as { transformToString(): Promise<string> }).transformToString();
}
async function getBytes(key: string): Promise<Buffer> {
  const o = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(
    await (o.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}
const put = (key: string, body: string | Buffer) =>
  client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

async function pack(name: string, content: string, key = "publisher.key"): Promise<string> {
  mkdirSync(p("src", name), { recursive: true });
  writeFileSync(p("src", name, "data.txt"), content);
  const out = p(`${name}.qcap`);
  const r = await qcap(["pack", p("src", name), "-o", out, "--unsealed", "--sign-key", p(key)]);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "qcap-registry-"));
  cliEnv = {
    ...process.env,
    QCAP_CONFIG_DIR: p("config"),
    QCAP_S3_FORCE_PATH_STYLE: "true",
    AWS_ENDPOINT_URL: env("AWS_ENDPOINT_URL"),
    AWS_ACCESS_KEY_ID: env("AWS_ACCESS_KEY_ID"),
    AWS_SECRET_ACCESS_KEY: env("AWS_SECRET_ACCESS_KEY"),
    AWS_REGION: env("AWS_REGION"),
  };
  for (const k of ["publisher.key", "other.key"]) {
    const r = await qcap(["keygen", "-o", p(k), "--unprotected"]);
    expect(r.code, r.stderr).toBe(0);
  }
  client = s3Client();
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  // The prefix served over plain HTTP, as a CDN or a public bucket would serve it.
  proxy = createServer((req, res) => {
    const key = decodeURIComponent((req.url ?? "/").replace(/^\/reg\//, "capsules/"));
    client
      .send(new GetObjectCommand({ Bucket: bucket, Key: key }))
      .then(async (o) => {
        res.writeHead(200, { "content-type": o.ContentType ?? "application/octet-stream" });
        res.end(
          Buffer.from(
            await (o.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
          ),
        );
      })
      .catch(() => {
        res.writeHead(404).end();
      });
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/reg`;
});

afterAll(async () => {
  client?.destroy();
  await new Promise((r) => proxy?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("qcap publish, ls and fetch", () => {
  let v1: string;
  let v2: string;
  let root1: string;
  let root2: string;

  it("publishes a verified capsule and lists it", async () => {
    v1 = await pack("v1", "first version\n");
    const r = await qcap(["publish", v1, registry, "--name", "data", "--json", "--public-url", proxyUrl]);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r);
    root1 = out.root as string;
    expect(out).toMatchObject({
      ok: true,
      namespace: "default",
      name: "data",
      replaced: null,
      sealed: false,
    });
    expect(out.key).toMatch(/^capsules\/default\/data\/[0-9a-f]{16}-[0-9a-f]{12}\.qcap$/);
    expect(out.url).toBe(`${proxyUrl}/${(out.key as string).slice("capsules/".length)}`);
    expect((await getBytes(out.key as string)).equals(readFileSync(v1))).toBe(true);

    const index = JSON.parse(await getText("capsules/index.json"));
    expect(index.kind).toBe("qcap-registry");
    expect(index.capsules).toHaveLength(1);
    expect(index.capsules[0]).toMatchObject({
      namespace: "default",
      name: "data",
      root: root1,
      key: out.key,
    });
    expect(await getText("capsules/index.html")).toContain("default/data");

    const ls = await qcap(["ls", registry]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain("1 capsule in");
    expect(ls.stdout).toContain(`default/data  ${root1}`);
    const lsJson = json(await qcap(["ls", registry, "--json"]));
    expect((lsJson.capsules as unknown[]).length).toBe(1);
  });

  it("refuses a capsule that does not verify, before uploading anything", async () => {
    const bad = readFileSync(v1);
    bad[40] = (bad[40] as number) ^ 0xff;
    writeFileSync(p("bad.qcap"), bad);
    const r = await qcap(["publish", p("bad.qcap"), registry, "--name", "bad"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    const index = JSON.parse(await getText("capsules/index.json"));
    expect(index.capsules.map((c: { name: string }) => c.name)).toEqual(["data"]);
  });

  it("fetches by name, verifies it and refuses to replace a file without --force", async () => {
    const r = await qcap(["fetch", registry, "data", "-o", p("got.qcap")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("OK default/data verified");
    expect(readFileSync(p("got.qcap")).equals(readFileSync(v1))).toBe(true);

    const again = await qcap(["fetch", registry, "data", "-o", p("got.qcap")]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/refusing to overwrite .*got\.qcap \(use --force/);
  });

  it("picks @latest or a given @ROOT, and refuses a root the registry does not hold", async () => {
    v2 = await pack("v2", "second version\n");
    const r = await qcap(["publish", v2, registry, "--name", "data", "--json", "--public-url", proxyUrl]);
    expect(r.code, r.stderr).toBe(0);
    root2 = json(r).root as string;
    expect(root2).not.toBe(root1);
    expect(json(r).replaced).toMatchObject({ root: root1 });

    const latest = await qcap(["fetch", registry, "default/data@latest", "-o", p("latest.qcap"), "--json"]);
    expect(latest.code, latest.stderr).toBe(0);
    expect(json(latest)).toMatchObject({ ok: true, root: root2 });
    expect(readFileSync(p("latest.qcap")).equals(readFileSync(v2))).toBe(true);

    const pinned = await qcap(["fetch", registry, `data@${root2}`, "-o", p("pinned.qcap")]);
    expect(pinned.code, pinned.stderr).toBe(0);

    const old = await qcap(["fetch", registry, `data@${root1}`, "-o", p("old.qcap")]);
    expect(old.code).toBe(2);
    expect(old.stderr).toContain(`is published with root ${root2}, not ${root1}`);
    expect(existsSync(p("old.qcap"))).toBe(false);
  });

  it("fetches through an http registry (the prefix served over HTTP)", async () => {
    const ls = await qcap(["ls", proxyUrl, "--json"]);
    expect(ls.code, ls.stderr).toBe(0);
    expect((json(ls).capsules as { root: string }[])[0]?.root).toBe(root2);
    const r = await qcap(["fetch", proxyUrl, "data", "-o", p("http.qcap")]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(p("http.qcap")).equals(readFileSync(v2))).toBe(true);
  });

  it("refuses a tampered artifact in the bucket and leaves no file behind", async () => {
    const index = JSON.parse(await getText("capsules/index.json"));
    const entry = index.capsules.find((c: { name: string }) => c.name === "data");
    const original = await getBytes(entry.key);
    const tampered = Buffer.from(original);
    tampered[60] = (tampered[60] as number) ^ 0x01;
    await put(entry.key, tampered);
    const r = await qcap(["fetch", registry, "data", "-o", p("tampered.qcap")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("sha256 does not match the registry's digest");
    expect(existsSync(p("tampered.qcap"))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);

    // A validly signed capsule of another key, with the index's size and digest made to match: the
    // capsule itself verifies, but its root and signer are not the ones the index names.
    const other = await pack("other", "someone else's\n", "other.key");
    const otherBytes = readFileSync(other);
    await put(entry.key, otherBytes);
    const { createHash } = await import("node:crypto");
    entry.size = otherBytes.length;
    entry.digest = `sha256:${createHash("sha256").update(otherBytes).digest("hex")}`;
    await put("capsules/index.json", JSON.stringify(index));
    const swapped = await qcap(["fetch", registry, "data", "-o", p("swapped.qcap")]);
    expect(swapped.code).toBe(1);
    expect(swapped.stderr).toContain(`is not the registry's ${root2}`);
    expect(existsSync(p("swapped.qcap"))).toBe(false);

    await put(entry.key, original);
  });

  it("says in one line what is wrong: no bucket, no access, not a registry, bad address", async () => {
    const cases: [string[], NodeJS.ProcessEnv, number, RegExp][] = [
      [["ls", "s3://qcap-no-such-bucket-x/r"], {}, 2, /^qcap: no such bucket "qcap-no-such-bucket-x"$/],
      [
        ["ls", registry],
        { AWS_SECRET_ACCESS_KEY: "wrong" },
        1,
        /^qcap: access denied to s3:\/\/.*index\.json/,
      ],
      [["ls", `s3://${bucket}/empty`], {}, 2, /index\.json does not exist: not a registry/],
      [["ls", "ftp://x"], {}, 2, /^qcap: invalid registry "ftp:\/\/x"/],
      [["publish", p("v1.qcap"), proxyUrl], {}, 2, /publish needs an s3:\/\/BUCKET\/PREFIX registry/],
      [["publish", p("v1.qcap"), registry, "--name", "Bad Name"], {}, 2, /invalid capsule name "Bad Name"/],
    ];
    await put("capsules-broken/index.json", '{"kind":"something else"}');
    cases.push([["ls", `s3://${bucket}/capsules-broken`], {}, 2, /is not a registry/]);
    for (const [args, extra, code, message] of cases) {
      const r = await qcap(args, extra);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(code);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
    }
  });

  it("explains itself with --help", async () => {
    for (const c of ["publish", "fetch", "ls"]) {
      const r = await qcap([c, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Examples:");
    }
  });
});

describe("concurrent publishers", () => {
  it("keep every entry when 8 CLI processes and the operator's library calls write one prefix at once", async () => {
    const n = 8;
    const files = await Promise.all(Array.from({ length: n }, (_, i) => pack(`c${i}`, `capsule ${i}\n`)));
    const prefix = `s3://${bucket}/shared`;
    // What the operator does for its Capsules: updateEntry on the same index, from this process.
    const operatorEntry = (i: number): RegistryEntry => ({
      namespace: "ops",
      name: `o${i}`,
      revision: "sha256:00",
      root: "ab".repeat(32),
      size: 1,
      digest: "sha256:00",
      url: "http://example.invalid/x.qcap",
      key: `shared/ops/o${i}/x.qcap`,
      issuer: "cd".repeat(32),
      sealed: false,
      updated: new Date().toISOString(),
    });
    const loc = { client, bucket, prefix: "shared" };
    const [results] = await Promise.all([
      Promise.all(files.map((f, i) => qcap(["publish", f, prefix, "--name", `team/c${i}`, "--json"]))),
      (async () => {
        for (let i = 0; i < 4; i++) {
          await new Promise((r) => setTimeout(r, 300));
          await updateEntry(loc, "ops", `o${i}`, operatorEntry(i));
        }
      })(),
    ]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const attempts = results.map((r) => json(r).attempts as number);
    const index = JSON.parse(await getText("shared/index.json"));
    const names = index.capsules.map((c: { namespace: string; name: string }) => `${c.namespace}/${c.name}`);
    expect(names.sort()).toEqual(
      [
        ...Array.from({ length: n }, (_, i) => `team/c${i}`),
        ...Array.from({ length: 4 }, (_, i) => `ops/o${i}`),
      ].sort(),
    );
    for (const [i, r] of results.entries()) {
      const entry = index.capsules.find((c: { name: string }) => c.name === `c${i}`);
      expect(entry.root).toBe(json(r).root);
    }
    // The page shows the final index, whichever writer wrote it last.
    const html = await getText("shared/index.html");
    for (const name of names) expect(html).toContain(name);
    console.log(`index.json writes per CLI publisher: ${attempts.join(", ")}`);
  });
});
