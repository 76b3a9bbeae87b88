#!/usr/bin/env node
// Bundles the action into dist/index.js with esbuild (pinned in package.json). The options are fixed so
// that the same sources always give the same bytes: test/dist.test.ts rebuilds in memory and compares.
//
//   node action/build.mjs            write dist/index.js
//   node action/build.mjs --check    exit 1 if dist/index.js differs from a fresh build
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const DIST = here("./dist/index.js");

/** The bundle as bytes, built in memory. */
export async function bundle() {
  const result = await esbuild.build({
    entryPoints: [here("./src/main.ts")],
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
  const out = result.outputFiles[0];
  if (!out) throw new Error("esbuild produced no output");
  return out.contents;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const fresh = await bundle();
  if (process.argv.includes("--check")) {
    const current = readFileSync(DIST);
    if (!current.equals(fresh)) {
      process.stderr.write("action/dist/index.js is out of date: run `npm run bundle -w @qcap/action`\n");
      process.exit(1);
    }
  } else {
    mkdirSync(dirname(DIST), { recursive: true });
    writeFileSync(DIST, fresh);
    process.stdout.write(`wrote ${DIST} (${fresh.length} bytes)\n`);
  }
}
