#!/usr/bin/env node
// Bundles the action into dist/index.js, and the block engine's worker into dist/worker.js
// beside it (core starts it from there), with esbuild (pinned in package.json). The options are
// fixed so that the same sources always give the same bytes: test/dist.test.ts rebuilds in memory
// and compares.
//
//   node action/build.mjs            write dist/
//   node action/build.mjs --check    exit 1 if dist/ differs from a fresh build
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const DIST = here("./dist/index.js");
/** The committed files of dist/, by name. */
export const DIST_FILES = { "index.js": DIST, "worker.js": here("./dist/worker.js") };

/** The bundles as bytes, built in memory: { "index.js": …, "worker.js": … }. */
export async function bundle() {
  const result = await esbuild.build({
    // core's worker, from its build (as the action's import of @qcap/core is).
    entryPoints: { index: here("./src/main.ts"), worker: here("../core/dist/engine/worker.js") },
    outdir: here("./dist"),
    bundle: true,
    write: false,
    platform: "node",
    format: "esm",
    target: "node20",
    // Node 20 runs the tests; GitHub runs the action on node24.
    mainFields: ["module", "main"],
    conditions: ["node", "import"],
    minify: false,
    keepNames: false,
    sourcemap: false,
    legalComments: "none",
    charset: "utf8",
    logLevel: "error",
    // CommonJS dependencies call require() for Node built-ins; give the ES module one.
    banner: {
      js: 'import { createRequire as __qcapCreateRequire } from "node:module";\nconst require = __qcapCreateRequire(import.meta.url);',
    },
    // Module paths appear in comments: keep them relative to action/ and unresolved through the
    // workspace symlinks, so any checkout gives the same bytes.
    absWorkingDir: here("./"),
    preserveSymlinks: true,
  });
  const out = Object.fromEntries(result.outputFiles.map((f) => [basename(f.path), f.contents]));
  for (const name of Object.keys(DIST_FILES)) if (!out[name]) throw new Error(`esbuild produced no ${name}`);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const fresh = await bundle();
  for (const [name, path] of Object.entries(DIST_FILES)) {
    if (process.argv.includes("--check")) {
      if (!existsSync(path) || !readFileSync(path).equals(fresh[name])) {
        process.stderr.write(`action/dist/${name} is out of date: run \`npm run bundle -w @qcap/action\`\n`);
        process.exit(1);
      }
    } else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, fresh[name]);
      process.stdout.write(`wrote ${path} (${fresh[name].length} bytes)\n`);
    }
  }
}
