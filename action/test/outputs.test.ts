/**
 * What the action seals and what it leaves behind: hidden files only on request (as actions/upload-artifact),
 * symbolic links refused with a way out, and no capsule, bundle or step output when a later step fails.
 * The repository's attestations API is a local stand-in here (github.com is not reachable from the tests):
 * it checks the shape of the request that actions/attest sends, not GitHub's answer.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { standardCommands } from "../src/summary.js";
import { qcap, REPOSITORY, visibleLog, type Workspace, workspace, writeKey } from "./helpers.js";

let ws: Workspace;
let key: ReturnType<typeof writeKey>;

beforeAll(() => {
  ws = workspace("qcap-action-outputs-");
  key = writeKey(ws.dir("publisher.key"));
  // A checkout as actions/checkout leaves it, and the dot-files a build leaves around.
  mkdirSync(ws.dir("ws", ".git"), { recursive: true });
  writeFileSync(ws.dir("ws", ".git", "config"), "[http]\n\textraheader = AUTHORIZATION: basic c2VjcmV0\n");
  writeFileSync(ws.dir("ws", "dist", ".env"), "API_TOKEN=hunter2\n");
  mkdirSync(ws.dir("ws", "dist", ".cache", "deep"), { recursive: true });
  writeFileSync(ws.dir("ws", "dist", ".cache", "deep", "blob"), "cached\n");
  writeFileSync(ws.dir("ws", "dist", "docs", ".hidden"), "hidden\n");
});
afterAll(() => ws?.remove());

const base = (output: string) => ({
  "signing-key": key.seed,
  sigstore: "key",
  attest: "false",
  output,
});

/** The entry names of a capsule (signed, not sealed: the manifest lists them). */
function entries(capsule: string): string[] {
  const r = qcap(["inspect", capsule, "--json"]);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout).entries as { name: string }[]).map((e) => e.name).sort();
}

describe("hidden files", () => {
  it("are left out at any depth unless include-hidden-files: true", async () => {
    const r = await ws.run({ ...base("plain.qcap"), paths: "dist/**" });
    expect(r.errors).toEqual([]);
    const names = entries(r.outputs["capsule-path"] as string);
    expect(names).toEqual([
      "payload/README.txt",
      "payload/app.bin",
      "payload/bin/tool",
      "payload/debug.map",
      "payload/docs/api/index.html",
    ]);

    const all = await ws.run({ ...base("all.qcap"), paths: "dist/**", "include-hidden-files": "true" });
    expect(all.errors).toEqual([]);
    expect(entries(all.outputs["capsule-path"] as string)).toEqual(
      [...names, "payload/.cache/deep/blob", "payload/.env", "payload/docs/.hidden"].sort(),
    );
  });

  it("`paths: .` does not seal the checkout's .git/config (where actions/checkout keeps its token)", async () => {
    const r = await ws.run({ ...base("out/dot.qcap"), paths: "." });
    expect(r.errors).toEqual([]);
    const names = entries(r.outputs["capsule-path"] as string);
    expect(names).toContain("payload/dist/README.txt");
    expect(names).toContain("payload/stac/item.json");
    expect(names.filter((n) => n.split("/").some((part) => part.startsWith(".")))).toEqual([]);
  });

  it("a pattern naming only hidden files finds nothing, and says how to include them", async () => {
    const r = await ws.run({ ...base("none.qcap"), paths: "dist/.env" });
    expect(r.code).toBe(1);
    expect(r.errors).toEqual([
      "no files match paths: dist/.env (hidden files are left out unless include-hidden-files: true)",
    ]);
    const yes = await ws.run({ ...base("env.qcap"), paths: "dist/.env", "include-hidden-files": "true" });
    expect(yes.errors).toEqual([]);
    expect(entries(yes.outputs["capsule-path"] as string)).toEqual(["payload/.env"]);
    const bad = await ws.run({ ...base("bad.qcap"), paths: "dist/**", "include-hidden-files": "yes" });
    expect(bad.errors).toEqual(["input include-hidden-files must be true or false, not yes"]);
  });
});

describe("symbolic links", () => {
  it("are refused with a message that says how to include what they point to", async () => {
    mkdirSync(ws.dir("ws", "linked", "real"), { recursive: true });
    writeFileSync(ws.dir("ws", "linked", "real", "data.txt"), "data\n");
    symlinkSync("real/data.txt", ws.dir("ws", "linked", "alias.txt"));
    const r = await ws.run({ ...base("link.qcap"), paths: "linked/**" });
    expect(r.code).toBe(1);
    expect(r.errors).toEqual([
      `cannot seal ${ws.dir("ws", "linked", "alias.txt")}: it is a symbolic link, and links are not followed; to include what it points to, list the target's own path in paths (or copy it into the build folder), or exclude the link with !linked/alias.txt`,
    ]);
    expect(existsSync(ws.dir("ws", "link.qcap"))).toBe(false);
    // Following the message works.
    const ok = await ws.run({ ...base("link.qcap"), paths: "linked/**\n!linked/alias.txt" });
    expect(ok.errors).toEqual([]);
    expect(entries(ok.outputs["capsule-path"] as string)).toEqual(["payload/real/data.txt"]);
  });
});

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A stand-in for the repository attestations endpoint: records requests, answers `status` with `reply`. */
async function fakeGitHubApi(status: number, reply: unknown) {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const TOKEN = "ghs_0123456789abcdefghijklmnopqrstuvwxyzAB";

describe("the repository's attestations", () => {
  it("github-attestation stores the bundle as actions/attest does, and outputs its id and page", async () => {
    const api = await fakeGitHubApi(201, { id: 4711 });
    try {
      const r = await ws.run(
        {
          ...base("stored.qcap"),
          attest: "true",
          paths: "dist/README.txt",
          "github-attestation": "true",
          "github-token": TOKEN,
        },
        { GITHUB_API_URL: api.url },
      );
      expect(r.errors).toEqual([]);
      expect(api.requests).toHaveLength(1);
      const [req] = api.requests as [Recorded];
      expect(req.method).toBe("POST");
      expect(req.url).toBe(`/repos/${REPOSITORY}/attestations`);
      expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(req.headers.accept).toBe("application/vnd.github+json");
      expect(req.headers["x-github-api-version"]).toBe("2022-11-28");
      const bundle = JSON.parse(readFileSync(r.outputs["attestation-path"] as string, "utf8"));
      expect(JSON.parse(req.body)).toEqual({ bundle });
      expect(r.outputs["attestation-id"]).toBe("4711");
      expect(r.outputs["attestation-url"]).toBe(`https://github.com/${REPOSITORY}/attestations/4711`);
      expect(visibleLog(r)).not.toContain(TOKEN);
    } finally {
      await api.close();
    }
  });

  it("needs attest and a token", async () => {
    let r = await ws.run({ ...base("x.qcap"), paths: "dist/README.txt", "github-attestation": "true" });
    expect(r.errors).toEqual([
      "input github-attestation needs attest: true (there is no attestation to store)",
    ]);
    r = await ws.run({
      ...base("x.qcap"),
      attest: "true",
      paths: "dist/README.txt",
      "github-attestation": "true",
      "github-token": "",
    });
    expect(r.errors).toEqual([
      "input github-attestation needs github-token (default: the workflow's github.token)",
    ]);
  });
});

describe("a step that fails after sealing", () => {
  const leftovers = (prefix: string) => readdirSync(ws.dir("ws")).filter((f) => f.startsWith(prefix));

  it("leaves no capsule, no bundle and no output when storing the attestation is refused", async () => {
    const api = await fakeGitHubApi(403, { message: "Resource not accessible by integration" });
    try {
      const r = await ws.run(
        {
          ...base("refused.qcap"),
          attest: "true",
          paths: "dist/**",
          "github-attestation": "true",
          "github-token": TOKEN,
        },
        { GITHUB_API_URL: api.url },
      );
      expect(api.requests).toHaveLength(1);
      expect(r.code).toBe(1);
      expect(r.errors).toEqual([
        `storing the attestation with ${REPOSITORY} failed: 403 Resource not accessible by integration: the job needs \`permissions: attestations: write\` (and id-token: write), and private repositories need a plan with artifact attestations`,
      ]);
      expect(leftovers("refused.qcap")).toEqual([]);
      expect(r.outputs).toEqual({});
      expect(r.stdout).toContain("the capsule and its attestation were removed: the step failed");
    } finally {
      await api.close();
    }
  });

  it("leaves no capsule and no output when the upload fails", async () => {
    const api = await fakeGitHubApi(503, { message: "unavailable" });
    await api.close(); // a port where nothing listens any more
    const r = await ws.run({
      ...base("noupload.qcap"),
      attest: "true",
      paths: "dist/**",
      "s3-bucket": "releases",
      "s3-endpoint": api.url,
      "s3-access-key-id": "AKIAEXAMPLE",
      "s3-secret-access-key": "secret-key-example-0123456789",
    });
    expect(r.code).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(leftovers("noupload.qcap")).toEqual([]);
    expect(r.outputs).toEqual({});
  });
});

describe("the summary's commands for the standard tools", () => {
  const facts = {
    capsulePath: "/w/out/app.qcap",
    size: 1,
    sha256: "00".repeat(32),
    root: "11".repeat(32),
    issuer: "22".repeat(32),
    ephemeralIssuer: true,
    files: [],
    meta: [],
    recipients: [],
  };
  it("cosign for a keyless bundle, and gh when the bundle is stored with the repository", () => {
    const attestation = {
      mode: "keyless" as const,
      path: "/w/out/app.qcap.sigstore.json",
      identity: "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1",
      issuer: "https://token.actions.githubusercontent.com",
    };
    expect(standardCommands({ ...facts, attestation })).toEqual([
      "cosign verify-blob-attestation --new-bundle-format --bundle app.qcap.sigstore.json --type slsaprovenance1 --certificate-identity https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1 --certificate-oidc-issuer https://token.actions.githubusercontent.com app.qcap",
    ]);
    expect(standardCommands({ ...facts, attestation, storedIn: "o/r" })[1]).toBe(
      "gh attestation verify app.qcap -R o/r",
    );
    expect(standardCommands({ ...facts, attestation: { mode: "key", path: "x" } })).toEqual([]);
  });
});
