/**
 * The npm tarballs install without the monorepo: scripts/pack.mjs packs @qcap/core, @qcap/native and
 * this platform's @qcap/native-<platform>; `npm install -g --prefix` puts them into an empty prefix
 * with a PATH that has neither cargo nor go, and the `qcap` linked there makes keys, packs, verifies
 * and opens a sealed capsule: with the prebuilt native engine, and on the portable engines where no
 * prebuilt package exists for the platform.
 *
 * Names under @qcap/ never come from the public registry: the scope's registry is a local server
 * that serves only the tarballs packed here (and 404, as for an unpublished name, otherwise), so
 * installing `@qcap/core` by name follows its optional dependencies as npm would once published.
 * Other dependencies come from the npm cache or the registry. QCAP_PACKED=DIR tests the tarballs in
 * DIR (the release's, packed with every platform's engine) instead of packing them here.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pseudoRandom, repoRoot } from "./helpers.js";

const HOST = { "linux-x64": "linux-x64-gnu", "linux-arm64": "linux-arm64-gnu" }[
  `${process.platform}-${process.arch}`
];
const packed = process.env.QCAP_PACKED;
/** Whether the tarballs hold this platform's engine: a local native build is packed with them. */
const hostNativeBuilt = packed !== undefined || existsSync(join(repoRoot, "native", "qcap_native.node"));
const work = mkdtempSync(join(tmpdir(), "qcap-install-"));
const tarballDir = join(work, "tarballs");
const tarballs: Record<string, string> = {};

/** The scope's registry: a packument and the tarball for each package in `served`, 404 otherwise. */
class ScopeRegistry {
  served = new Set<string>();
  requests: string[] = [];
  url = "";
  private server: Server | undefined;

  /** Listens on a new port, so that no packument npm cached from an earlier install applies. */
  async start(served: string[]) {
    this.stop();
    this.served = new Set(served);
    this.requests = [];
    this.server = createServer((req, res) => {
      const path = decodeURIComponent(req.url ?? "/");
      this.requests.push(path);
      const file = path.startsWith("/-/") ? basename(path) : undefined;
      const name = file ? undefined : path.slice(1);
      if (file && Object.values(tarballs).some((t) => basename(t) === file)) {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(readFileSync(join(tarballDir, file)));
      } else if (name && this.served.has(name) && tarballs[name]) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(this.packument(tarballs[name])));
      } else {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"error":"not found"}');
      }
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/`;
  }

  private packument(tarball: string) {
    const manifest = JSON.parse(
      execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" }),
    );
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

const registry = new ScopeRegistry();

/** node and npm only, so that the PATH given to npm and qcap has no cargo or go in it. */
const tools = join(work, "tools");

function cleanEnv(prefix: string): NodeJS.ProcessEnv {
  // npm's own variables (set when this runs under `npm test`) would configure the npm we run.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && !k.startsWith("QCAP_")),
  );
  return { ...env, PATH: [join(prefix, "bin"), tools, "/usr/bin", "/bin"].join(":") };
}

/** Runs npm without blocking: the scope's registry answers from this process. */
async function npmInstall(prefix: string, specs: string[]) {
  const args = [
    "install",
    "--global",
    "--prefix",
    prefix,
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
    "--fetch-retries=0",
    `--@qcap:registry=${registry.url}`,
    ...specs,
  ];
  const child = spawn("npm", args, { cwd: work, env: cleanEnv(prefix), stdio: ["ignore", "pipe", "pipe"] });
  const output: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => output.push(d));
  child.stderr.on("data", (d: Buffer) => output.push(d));
  const code = await new Promise((r) => child.on("close", r));
  expect(code, Buffer.concat(output).toString()).toBe(0);
}

function qcap(prefix: string, args: string[], cwd: string) {
  return spawnSync("qcap", args, { cwd, env: cleanEnv(prefix), encoding: "utf8", timeout: 120_000 });
}

/** The engine @qcap/core uses in the prefix, seen through its public API (as the CLI loads it). */
function engineIn(prefix: string): string {
  const probe = join(prefix, "lib", "probe.mjs");
  writeFileSync(
    probe,
    'import { createEngine } from "@qcap/core/node";\nprocess.stdout.write(createEngine().kind === "native" ? "native" : "portable");\n',
  );
  return execFileSync(process.execPath, [probe], { env: cleanEnv(prefix), encoding: "utf8" });
}

/** Every path below `dir` (not following links). */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).map((e) => join(e.parentPath, e.name));
}

const data = join(work, "data");

beforeAll(async () => {
  let files: string[];
  if (packed) {
    files = readdirSync(packed)
      .filter((f) => f.endsWith(".tgz"))
      .map((f) => join(realpathSync(packed), f));
  } else {
    const core = join(repoRoot, "core", "dist", "cli", "main.js");
    if (!existsSync(core)) throw new Error("core/dist is missing: run `npm run build` first");
    const pack = join(repoRoot, "scripts", "pack.mjs");
    const out = execFileSync(process.execPath, [pack, "--out", tarballDir], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    files = out.trim().split("\n");
  }
  mkdirSync(tarballDir, { recursive: true });
  for (const f of files) {
    const t = join(tarballDir, basename(f));
    if (t !== f) copyFileSync(f, t);
    const manifest = JSON.parse(
      execFileSync("tar", ["-xzOf", t, "package/package.json"], { encoding: "utf8" }),
    );
    tarballs[manifest.name] = t;
  }
  mkdirSync(tools);
  symlinkSync(process.execPath, join(tools, "node"));
  const npmCli = realpathSync(execFileSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).trim());
  symlinkSync(npmCli, join(tools, "npm"));

  mkdirSync(join(data, "tiles"), { recursive: true });
  writeFileSync(join(data, "README.txt"), "installed from the tarballs\n");
  writeFileSync(join(data, "tiles", "big.bin"), pseudoRandom(300_000, 3));
  for (let i = 0; i < 20; i++) writeFileSync(join(data, "tiles", `t${i}.bin`), pseudoRandom(1000 + i, i + 9));
}, 300_000);

afterAll(() => {
  registry.stop();
  rmSync(work, { recursive: true, force: true });
});

/** keygen, pubkey, pack (sealed), verify (and a tampered copy refused), open: the README's steps. */
function quickstart(prefix: string, name: string) {
  const dir = join(work, `run-${name}`);
  mkdirSync(dir);
  const run = (args: string[]) => {
    const r = qcap(prefix, args, dir);
    expect(r.status, `qcap ${args.join(" ")}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  run(["keygen", "--unprotected", "-o", "alice.key"]);
  const recipient = run(["pubkey", "--format", "age", "alice.key"]).trim();
  expect(recipient).toMatch(/^age1[0-9a-z]+$/);
  writeFileSync(join(dir, "alice.pub.pem"), run(["pubkey", "--format", "pem", "alice.key"]));
  run(["pack", data, "-o", "data.qcap", "--sign-key", "alice.key", "-r", recipient]);
  expect(run(["verify", "data.qcap", "--trust", "alice.pub.pem"])).not.toBe("");

  const capsule = readFileSync(join(dir, "data.qcap"));
  const tampered = Buffer.from(capsule);
  const at = capsule.indexOf(Buffer.from("payload/tiles/big.bin")) + 4096;
  tampered[at] = (tampered[at] ?? 0) ^ 1;
  writeFileSync(join(dir, "tampered.qcap"), tampered);
  const refused = qcap(prefix, ["verify", "tampered.qcap", "--trust", "alice.pub.pem"], dir);
  expect(refused.status).toBe(1);

  run(["open", "data.qcap", "-i", "alice.key", "--trust", "alice.pub.pem", "-o", "out"]);
  for (const f of ["README.txt", "tiles/big.bin", "tiles/t0.bin", "tiles/t19.bin"])
    expect(readFileSync(join(dir, "out", f)).equals(readFileSync(join(data, f))), f).toBe(true);
  return dir;
}

/** The installed `qcap` is the prefix's own copy and runs without cargo or go on the PATH. */
function checkInstalled(prefix: string) {
  const which = spawnSync("sh", ["-c", "command -v cargo; command -v go; command -v rustc"], {
    env: cleanEnv(prefix),
    encoding: "utf8",
  });
  expect(which.stdout).toBe("");
  const bin = realpathSync(join(prefix, "bin", "qcap"));
  expect(bin.startsWith(realpathSync(prefix))).toBe(true);
  expect(bin.endsWith(join("@qcap", "core", "dist", "cli", "main.js"))).toBe(true);
  const version = qcap(prefix, ["--version"], work);
  expect(version.status, version.stderr).toBe(0);
  expect(version.stdout).toContain(
    JSON.parse(readFileSync(join(repoRoot, "core", "package.json"), "utf8")).version,
  );
}

const platformPkg = HOST && `@qcap/native-${HOST}`;

describe.skipIf(process.platform === "win32")("npm install -g of the packed tarballs", () => {
  it("packs @qcap/core, @qcap/native and the platform package of a local native build", () => {
    expect(Object.keys(tarballs)).toEqual(expect.arrayContaining(["@qcap/core", "@qcap/native"]));
    const files = execFileSync("tar", ["-tzf", tarballs["@qcap/core"] as string], { encoding: "utf8" });
    expect(files).toContain("package/dist/cli/main.js");
    expect(files).not.toContain("package/test/");
    expect(files).not.toContain("package/src/");
    const native = execFileSync("tar", ["-tzf", tarballs["@qcap/native"] as string], { encoding: "utf8" });
    expect(native).not.toMatch(/\.node$|\.rs$|Cargo/m);
    // The loader's manifest lists every platform package (added when packing, as napi-rs does).
    const manifest = JSON.parse(
      execFileSync("tar", ["-xzOf", tarballs["@qcap/native"] as string, "package/package.json"], {
        encoding: "utf8",
      }),
    );
    const platforms = readdirSync(join(repoRoot, "native", "npm")).map((d) => `@qcap/native-${d}`);
    expect(Object.keys(manifest.optionalDependencies).sort()).toEqual(platforms.sort());
    expect(manifest.devDependencies).toBeUndefined();
    if (packed) for (const name of platforms) expect(tarballs[name], name).toBeDefined();
    if (platformPkg && hostNativeBuilt) expect(tarballs[platformPkg]).toBeDefined();
  });

  it.skipIf(!platformPkg || !hostNativeBuilt)(
    "the tarballs given to npm: qcap runs the quickstart on the prebuilt native engine",
    async () => {
      const prefix = join(work, "prefix-tarballs");
      await registry.start([]);
      await npmInstall(prefix, Object.values(tarballs));
      checkInstalled(prefix);
      expect(existsSync(join(prefix, "lib", "node_modules", platformPkg as string))).toBe(true);
      expect(engineIn(prefix)).toBe("native");
      quickstart(prefix, "tarballs");
    },
  );

  it.skipIf(!platformPkg || !hostNativeBuilt)(
    "@qcap/core by name from a registry: its optional dependencies bring the platform's engine",
    async () => {
      const prefix = join(work, "prefix-registry");
      await registry.start(Object.keys(tarballs));
      await npmInstall(prefix, ["@qcap/core@0.1.0"]);
      expect(registry.requests).toEqual(expect.arrayContaining([`/${platformPkg}`, "/@qcap/native"]));
      checkInstalled(prefix);
      expect(walk(prefix).some((p) => p.endsWith(join("node_modules", platformPkg as string)))).toBe(true);
      expect(engineIn(prefix)).toBe("native");
      quickstart(prefix, "registry");
    },
  );

  it("without a prebuilt package for the platform: qcap runs the quickstart on the portable engines", async () => {
    const prefix = join(work, "prefix-portable");
    await registry.start(["@qcap/core", "@qcap/native"]);
    await npmInstall(prefix, ["@qcap/core@0.1.0"]);
    if (platformPkg) expect(registry.requests).toContain(`/${platformPkg}`);
    checkInstalled(prefix);
    expect(walk(prefix).filter((p) => /@qcap[/\\]native-/.test(p))).toEqual([]);
    expect(engineIn(prefix)).toBe("portable");
    const dir = quickstart(prefix, "portable");
    // A capsule sealed by the native engine opens on the portable one, byte for byte.
    const native = join(work, "run-tarballs");
    if (existsSync(join(native, "data.qcap"))) {
      const key = join(native, "alice.key");
      const pub = join(native, "alice.pub.pem");
      const r = qcap(
        prefix,
        ["open", join(native, "data.qcap"), "-i", key, "--trust", pub, "-o", "from-native"],
        dir,
      );
      expect(r.status, r.stderr).toBe(0);
      expect(
        readFileSync(join(dir, "from-native", "tiles", "big.bin")).equals(
          readFileSync(join(data, "tiles", "big.bin")),
        ),
      ).toBe(true);
    }
  });
});
