/**
 * The npm tarballs install without the monorepo: scripts/pack.mjs packs @qcap/core, @qcap/native and
 * this platform's @qcap/native-<platform>; `npm install -g --prefix` puts them into an empty prefix
 * with a PATH that has neither cargo nor go, and the `qcap` linked there makes keys, packs, verifies
 * and opens a sealed capsule: with the prebuilt native engine, and on the portable engines where no
 * prebuilt package exists for the platform. The scope's registry and the clean environment are in
 * install-helpers.ts (shared with the README quickstart's test). QCAP_PACKED=DIR tests the tarballs
 * in DIR (the release's, packed with every platform's engine) instead of packing them here.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pseudoRandom, repoRoot } from "./helpers.js";
import {
  buildToolsOnPath,
  HOST_PLATFORM,
  hostNativeBuilt,
  npmInstall as install,
  nodeAndNpmOnly,
  PACKED_DIR,
  packTarballs,
  ScopeRegistry,
  type Tarballs,
  cleanEnv as userEnv,
} from "./install-helpers.js";

const packed = PACKED_DIR;
const work = mkdtempSync(join(tmpdir(), "qcap-install-"));
const tarballDir = join(work, "tarballs");
let tarballs: Tarballs = {};
let registry: ScopeRegistry;

/** node and npm only, so that the PATH given to npm and qcap has no cargo or go in it. */
const tools = join(work, "tools");

const cleanEnv = (prefix: string) => userEnv(prefix, tools);

const npmInstall = (prefix: string, specs: string[]) => install(prefix, tools, registry.url, specs, work);

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
  tarballs = packTarballs(tarballDir);
  registry = new ScopeRegistry(tarballs);
  nodeAndNpmOnly(tools);

  mkdirSync(join(data, "tiles"), { recursive: true });
  writeFileSync(join(data, "README.txt"), "installed from the tarballs\n");
  writeFileSync(join(data, "tiles", "big.bin"), pseudoRandom(300_000, 3));
  for (let i = 0; i < 20; i++) writeFileSync(join(data, "tiles", `t${i}.bin`), pseudoRandom(1000 + i, i + 9));
}, 300_000);

afterAll(() => {
  registry?.stop();
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
  expect(buildToolsOnPath(cleanEnv(prefix))).toBe("");
  const bin = realpathSync(join(prefix, "bin", "qcap"));
  expect(bin.startsWith(realpathSync(prefix))).toBe(true);
  expect(bin.endsWith(join("@qcap", "core", "dist", "cli", "main.js"))).toBe(true);
  const version = qcap(prefix, ["--version"], work);
  expect(version.status, version.stderr).toBe(0);
  expect(version.stdout).toContain(
    JSON.parse(readFileSync(join(repoRoot, "core", "package.json"), "utf8")).version,
  );
}

const platformPkg = HOST_PLATFORM && `@qcap/native-${HOST_PLATFORM}`;

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
