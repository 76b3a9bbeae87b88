#!/usr/bin/env node
// Copies the CRDs from crds/ (their single source of truth) into the chart's crds/ folder, byte for byte.
//
//   node charts/sync-crds.mjs           write charts/qcap-operator/crds/ from crds/
//   node charts/sync-crds.mjs --check   exit 1 (listing the differences) when the chart's copy is stale
//
// Helm installs files in a chart's crds/ folder before the templates and cannot read outside the chart
// directory (symlinks are not followed in packaged charts), hence a checked copy.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const SOURCE_DIR = join(root, "crds");
export const CHART_CRDS_DIR = join(root, "charts", "qcap-operator", "crds");

const yamlFiles = (dir) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
    : [];

/** Differences between crds/ and the chart's copy, as human-readable lines (empty when in sync). */
export function crdDrift() {
  const source = yamlFiles(SOURCE_DIR);
  const copy = yamlFiles(CHART_CRDS_DIR);
  const drift = [];
  if (source.length === 0) drift.push(`no CRD files in ${SOURCE_DIR}`);
  for (const f of source) {
    if (!copy.includes(f)) drift.push(`missing in chart: ${f}`);
    else if (!readFileSync(join(SOURCE_DIR, f)).equals(readFileSync(join(CHART_CRDS_DIR, f))))
      drift.push(`differs: ${f}`);
  }
  for (const f of copy) if (!source.includes(f)) drift.push(`not in crds/: ${f}`);
  return drift;
}

/** Rewrites the chart's crds/ folder from crds/ (each file written to a temp name, then renamed). */
export function syncCrds() {
  mkdirSync(CHART_CRDS_DIR, { recursive: true });
  const source = yamlFiles(SOURCE_DIR);
  for (const f of yamlFiles(CHART_CRDS_DIR)) if (!source.includes(f)) rmSync(join(CHART_CRDS_DIR, f));
  for (const f of source) {
    const tmp = join(CHART_CRDS_DIR, `.${f}.tmp`);
    writeFileSync(tmp, readFileSync(join(SOURCE_DIR, f)));
    renameSync(tmp, join(CHART_CRDS_DIR, f));
  }
  return source;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes("--check");
  if (check) {
    const drift = crdDrift();
    for (const line of drift) process.stderr.write(`${line}\n`);
    if (drift.length) process.stderr.write("run: node charts/sync-crds.mjs\n");
    process.exit(drift.length ? 1 : 0);
  }
  const files = syncCrds();
  process.stdout.write(`synced ${files.length} CRD file(s) into ${CHART_CRDS_DIR}\n`);
}
