/**
 * Installing the packed npm tarballs as a user would, without the monorepo: the tarballs
 * (scripts/pack.mjs, or QCAP_PACKED=DIR), a local registry for the @qcap scope, a PATH with node and
 * npm but neither cargo nor go, and npm's settings for an install into an empty prefix.
 *
 * Names under @qcap/ never come from the public registry: the scope's registry serves only the
 * tarballs packed here (and 404, as for an unpublished name, otherwise), so installing `@qcap/core`
 * by name follows its optional dependencies as npm would once published. Other dependencies come
 * from the npm cache or the registry.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, join } from "node:path";
import { repoRoot } from "./helpers.js";

/** The platform package built on this machine, where the project has one. */
const HOST_PLATFORMS: Record<string, string> = {
  "linux-x64": "linux-x64-gnu",
  "linux-arm64": "linux-arm64-gnu",
};
export const HOST_PLATFORM: string | undefined = HOST_PLATFORMS[`${process.platform}-${process.arch}`];

/** Tarballs from QCAP_PACKED (the release's, packed with every platform's engine), else packed here. */
export const PACKED_DIR = process.env.QCAP_PACKED;

/** Whether the tarballs hold this platform's engine: a local native build is packed with them. */
export const hostNativeBuilt =
  PACKED_DIR !== undefined || existsSync(join(repoRoot, "native", "qcap_native.node"));

/** The tarballs in `dir` by package name, packed by scripts/pack.mjs or copied from QCAP_PACKED. */
export type Tarballs = Record<string, string>;

function manifestOf(tarball: string) {
  return JSON.parse(execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" }));
}

/** Packs (or copies from QCAP_PACKED) the tarballs into `dir`. Needs `npm run build` first. */
export function packTarballs(dir: string): Tarballs {
  let files: string[];
  if (PACKED_DIR) {
    files = readdirSync(PACKED_DIR)
      .filter((f) => f.endsWith(".tgz"))
      .map((f) => join(realpathSync(PACKED_DIR), f));
  } else {
    if (!existsSync(join(repoRoot, "core", "dist", "cli", "main.js")))
      throw new Error("core/dist is missing: run `npm run build` first");
    const out = execFileSync(process.execPath, [join(repoRoot, "scripts", "pack.mjs"), "--out", dir], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    files = out.trim().split("\n");
  }
  mkdirSync(dir, { recursive: true });
  const tarballs: Tarballs = {};
  for (const f of files) {
    const t = join(dir, basename(f));
    if (t !== f) copyFileSync(f, t);
    tarballs[manifestOf(t).name] = t;
  }
  return tarballs;
}

/** The scope's registry: a packument and the tarball for each package in `served`, 404 otherwise. */
export class ScopeRegistry {
  served = new Set<string>();
  requests: string[] = [];
  url = "";
  private server: Server | undefined;

  constructor(private readonly tarballs: Tarballs) {}

  /**
   * Listens on a new port under a new random path, so that no packument npm cached from an earlier
   * install applies (ports alone repeat across runs sharing one npm cache).
   */
  async start(served: string[]) {
    this.stop();
    this.served = new Set(served);
    this.requests = [];
    const base = `/${randomBytes(8).toString("hex")}`;
    const byFile = new Map(Object.values(this.tarballs).map((t) => [basename(t), t]));
    this.server = createServer((req, res) => {
      const full = decodeURIComponent(req.url ?? "/");
      const path = full.startsWith(`${base}/`) ? full.slice(base.length) : "/-/not-this-registry";
      this.requests.push(path);
      const file = path.startsWith("/-/") ? byFile.get(basename(path)) : undefined;
      const name = path.startsWith("/-/") ? undefined : path.slice(1);
      const tarball = name && this.served.has(name) ? this.tarballs[name] : undefined;
      if (file) {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(readFileSync(file));
      } else if (tarball) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(this.packument(tarball)));
      } else {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"error":"not found"}');
      }
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}${base}/`;
  }

  private packument(tarball: string) {
    const manifest = manifestOf(tarball);
    const bytes = readFileSync(tarball);
    const dist = {
      tarball: `${this.url}-/${basename(tarball)}`,
      integrity: `sha512-${createHash("sha512").update(bytes).digest("base64")}`,
      shasum: createHash("sha1").update(bytes).digest("hex"),
    };
    return {
      name: manifest.name,
      "dist-tags": { latest: manifest.version },
      versions: { [manifest.version]: { ...manifest, _id: `${manifest.name}@${manifest.version}`, dist } },
    };
  }

  stop() {
    this.server?.close();
  }
}

/** A folder with links to node and npm only, so that a PATH made of it has no cargo or go. */
export function nodeAndNpmOnly(dir: string): string {
  mkdirSync(dir, { recursive: true });
  symlinkSync(process.execPath, join(dir, "node"));
  const npmCli = realpathSync(execFileSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).trim());
  symlinkSync(npmCli, join(dir, "npm"));
  return dir;
}

/**
 * The environment of a user whose PATH is the prefix's bin, node and npm, and the system folders:
 * no QCAP_ settings, and none of npm's own variables (set when this runs under `npm test`).
 */
export function cleanEnv(prefix: string, tools: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && !k.startsWith("QCAP_")),
  );
  return { ...env, PATH: [join(prefix, "bin"), tools, "/usr/bin", "/bin"].join(":") };
}

/**
 * npm's settings, as environment variables, for `npm install --global` into `prefix` with the @qcap
 * scope from `registryUrl`: what a user's ~/.npmrc would say.
 */
export function npmSettings(prefix: string, registryUrl: string): Record<string, string> {
  return {
    npm_config_prefix: prefix,
    "npm_config_@qcap:registry": registryUrl,
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_prefer_offline: "true",
    npm_config_fetch_retries: "0",
  };
}

/** `npm install --global SPECS` into `prefix`, without blocking: the scope's registry answers from this process. */
export async function npmInstall(
  prefix: string,
  tools: string,
  registryUrl: string,
  specs: string[],
  cwd: string,
): Promise<void> {
  const env = { ...cleanEnv(prefix, tools), ...npmSettings(prefix, registryUrl) };
  const child = spawn("npm", ["install", "--global", ...specs], {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => output.push(d));
  child.stderr.on("data", (d: Buffer) => output.push(d));
  const code = await new Promise((r) => child.on("close", r));
  if (code !== 0)
    throw new Error(`npm install ${specs.join(" ")} exited with ${code}:\n${Buffer.concat(output)}`);
}

/** The names of the tools a PATH must not have for an install "without Go or Rust". */
export function buildToolsOnPath(env: NodeJS.ProcessEnv): string {
  return spawnSync("sh", ["-c", "command -v cargo; command -v go; command -v rustc; true"], {
    env,
    encoding: "utf8",
  }).stdout;
}
