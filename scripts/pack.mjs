#!/usr/bin/env node
// Packs the installable npm tarballs: @qcap/core (library and the `qcap` command), @qcap/native (the
// loader) and one @qcap/native-<platform> package per prebuilt engine (native/npm/<platform>).
// The platform packages become optional dependencies of the packed @qcap/native only (as napi-rs'
// pre-publish step does): listed in native/package.json, they would be missing from the lock file
// until published, and `npm ci` refuses that.
//
//   node scripts/pack.mjs [--out DIR] [--prebuilt DIR] [--all]
//
// The platform packages take their binary from --prebuilt DIR/qcap_native.<platform>.node (the
// release workflow's build matrix) or, for this machine's platform, from native/qcap_native.node
// (native/build.mjs); a platform without a binary is left out, or is an error with --all. Needs
// `npm run build` first. Prints the path of each tarball written, one a line. Exit 2 on bad input.
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dirname, "..");
const npmDir = join(root, "native", "npm");

/** `${process.platform}-${process.arch}` -> the platform package built on such a machine. */
const HOST_PLATFORMS = {
  "linux-x64": "linux-x64-gnu",
  "linux-arm64": "linux-arm64-gnu",
  "darwin-x64": "darwin-x64",
  "darwin-arm64": "darwin-arm64",
  "win32-x64": "win32-x64-msvc",
};

class UsageError extends Error {}

const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));

/** Checks that the packages ask for the versions packed with them and that the loader knows each. */
function checkVersions(core, native, platforms) {
  const want = core.optionalDependencies?.["@qcap/native"];
  if (want !== native.version)
    throw new UsageError(`@qcap/core wants @qcap/native ${want}, but native/ is ${native.version}`);
  const loader = readFileSync(join(root, "native", "index.cjs"), "utf8");
  for (const p of platforms) {
    if (p.version !== native.version)
      throw new UsageError(`${p.name} is ${p.version}, but @qcap/native is ${native.version}`);
    if (!loader.includes(`"${p.name}"`)) throw new UsageError(`native/index.cjs does not load ${p.name}`);
  }
}

/** A copy of @qcap/native's published files whose manifest lists the platform packages. */
function stageNative(native, platforms, staging) {
  const dir = join(staging, "native");
  mkdirSync(dir);
  for (const f of [...native.files, "README.md"]) copyFileSync(join(root, "native", f), join(dir, f));
  const { scripts: _, devDependencies: __, ...manifest } = native;
  manifest.optionalDependencies = Object.fromEntries(platforms.map((p) => [p.name, p.version]));
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

/** `npm pack` of a folder, written next to `out` first and then moved into it; returns its path. */
function npmPack(dir, out) {
  const tmp = mkdtempSync(join(out, ".pack-"));
  try {
    const json = execFileSync("npm", ["pack", "--json", "--pack-destination", tmp], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    const name = JSON.parse(json)[0].filename;
    renameSync(join(tmp, name), join(out, name));
    return join(out, name);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        out: { type: "string", default: "dist-npm" },
        prebuilt: { type: "string" },
        all: { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    throw new UsageError(`${e.message} (usage: node scripts/pack.mjs [--out DIR] [--prebuilt DIR] [--all])`);
  }
  const out = resolve(values.out);
  if (!existsSync(join(root, "core", "dist", "cli", "main.js")))
    throw new UsageError("core/dist is missing: run `npm run build` first");

  const core = readJson(join(root, "core", "package.json"));
  const native = readJson(join(root, "native", "package.json"));
  const platforms = readdirSync(npmDir)
    .sort()
    .map((dir) => ({ dir, ...readJson(join(npmDir, dir, "package.json")) }));
  checkVersions(core, native, platforms);

  // A local build on musl is no build for the glibc packages.
  const glibc =
    process.platform !== "linux" || Boolean(process.report?.getReport().header.glibcVersionRuntime);
  const host = glibc ? HOST_PLATFORMS[`${process.platform}-${process.arch}`] : undefined;
  const binaryOf = (p) => {
    const prebuilt = values.prebuilt && join(resolve(values.prebuilt), p.main);
    if (prebuilt && existsSync(prebuilt)) return prebuilt;
    const local = join(root, "native", "qcap_native.node");
    if (p.dir === host && existsSync(local)) return local;
    return undefined;
  };
  const missing = platforms.filter((p) => !binaryOf(p));
  if (values.all && missing.length)
    throw new UsageError(`no prebuilt engine for ${missing.map((p) => p.dir).join(", ")}`);

  mkdirSync(out, { recursive: true });
  const tarballs = [];
  const staging = mkdtempSync(join(tmpdir(), "qcap-pack-"));
  try {
    for (const p of platforms) {
      const binary = binaryOf(p);
      if (!binary) {
        process.stderr.write(`pack: ${p.name} left out (no binary for it)\n`);
        continue;
      }
      if (statSync(binary).size === 0) throw new UsageError(`${binary} is empty`);
      // Staged, so that the binary never lands in the source tree.
      const dir = join(staging, p.dir);
      mkdirSync(dir);
      copyFileSync(join(npmDir, p.dir, "package.json"), join(dir, "package.json"));
      copyFileSync(binary, join(dir, p.main));
      tarballs.push(npmPack(dir, out));
    }
    tarballs.push(npmPack(stageNative(native, platforms, staging), out));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  tarballs.push(npmPack(join(root, "core"), out));
  process.stdout.write(`${tarballs.join("\n")}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`pack: ${e instanceof UsageError ? e.message : e.stack}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
}
