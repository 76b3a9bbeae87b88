#!/usr/bin/env node
// Builds the addon with cargo when its sources are newer than qcap_native.node. Without a Rust
// toolchain it says so and exits 0: @qcap/core then runs on its portable engines.
// CARGO_TARGET_DIR chooses where cargo builds (default: target/ here).
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";

const here = import.meta.dirname;
const out = join(here, "qcap_native.node");
const sources = [
  "Cargo.toml",
  "Cargo.lock",
  "build.rs",
  ...readdirSync(join(here, "src")).map((f) => `src/${f}`),
];
const newest = Math.max(...sources.map((f) => statSync(join(here, f)).mtimeMs));
if (existsSync(out) && statSync(out).mtimeMs >= newest && !process.argv.includes("--force")) process.exit(0);

if (spawnSync("cargo", ["--version"], { stdio: "ignore" }).status !== 0) {
  process.stderr.write(
    "@qcap/native: cargo not found, so the native engine is not built (see native/README.md)\n",
  );
  process.exit(0);
}
process.stderr.write("@qcap/native: building the native engine (cargo build --release)\n");
execFileSync("cargo", ["build", "--release", "--locked", "--quiet"], { cwd: here, stdio: "inherit" });
const target = process.env.CARGO_TARGET_DIR ?? join(here, "target");
const lib =
  { darwin: "libqcap_native.dylib", win32: "qcap_native.dll" }[process.platform] ?? "libqcap_native.so";
const tmp = `${out}.tmp-${process.pid}`;
copyFileSync(join(target, "release", lib), tmp);
renameSync(tmp, out);
