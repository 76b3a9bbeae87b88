/**
 * Start-up of the CLI, as whole-process medians: `qcap --version` against `node -e 0` (target
 * <= 80 ms), and `qcap verify` of a capsule against `b3sum` of the same file (target <= 1.0), where
 * start-up is a large share of small and mid-sized capsules.
 *
 * The verify record also has the medians of `node -e 0` and of `qcap inspect` on the same capsule
 * (start-up, module loading, opening and the signature, without reading the data): the share of the
 * whole process that does not depend on the capsule's size.
 *
 * BENCH_STARTUP_RUNS sets the timed runs of --version (default 21); BENCH_VERIFY_MIB the payload
 * size of the verified capsule in MiB (default 1024; e.g. 64 for a quick run).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CLI, die, envCount, log, MiB, qcap, WORK, want } from "../config.mjs";
import { compare, measure, median, round } from "../measure.mjs";
import { noiseFile } from "../noise-file.mjs";

export const IDS = ["startup-version", "startup-verify"];

export const TARGETS = { versionMs: 80, verifyRatio: 1.0 };

/** Median wall time in ms of `runs` runs of a command, after one untimed run. */
function medianMs(cmd, args, runs) {
  measure(cmd, args);
  const ms = [];
  for (let i = 0; i < runs; i++) ms.push(measure(cmd, args).seconds * 1000);
  return { medianMs: round(median(ms), 1), minMs: round(Math.min(...ms), 1) };
}

function version() {
  const runs = envCount("BENCH_STARTUP_RUNS", 21);
  log(`\n== start-up: qcap --version against node -e 0, ${runs} runs each`);
  const node = medianMs(process.execPath, ["-e", "0"], runs);
  const q = medianMs(process.execPath, [CLI, "--version"], runs);
  const engines = execFileSync(process.execPath, [CLI, "--version"], { encoding: "utf8" }).split("\n")[1];
  log(`  node -e 0: ${node.medianMs} ms; qcap --version: ${q.medianMs} ms (${engines})`);
  return {
    id: "startup-version",
    title: "qcap --version, whole process",
    runs,
    nodeMedianMs: node.medianMs,
    medianMs: q.medianMs,
    minMs: q.minMs,
    targetMs: TARGETS.versionMs,
    met: q.medianMs <= TARGETS.versionMs,
  };
}

function verify(k) {
  const mib = envCount("BENCH_VERIFY_MIB", 1024);
  const dir = join(WORK, "startup-in");
  const cap = join(WORK, "startup.qcap");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`\ngenerating ${mib} MiB for the verify scenario`);
  noiseFile(join(dir, "data.bin"), mib * MiB);
  rmSync(cap, { force: true });
  measure(process.execPath, [CLI, "pack", dir, "-o", cap, "--sign-key", k.key, "-r", k.recipient, "--json"]);
  rmSync(dir, { recursive: true, force: true });
  try {
    const r = compare(
      "startup-verify",
      `verify a capsule of ${mib} MiB (signature and every digest), whole process`,
      qcap("verify", cap, "--json"),
      { name: "b3sum", cmd: "b3sum", args: [cap] },
      TARGETS.verifyRatio,
    );
    // What the whole process pays besides checking the data: Node's own start-up, and `inspect`
    // (start-up, module loading, opening and the signature, no data read).
    const runs = r.qcap.runsSeconds.length;
    const node = medianMs(process.execPath, ["-e", "0"], runs);
    const inspect = medianMs(process.execPath, [CLI, "inspect", cap, "--json"], runs);
    log(`  node -e 0: ${node.medianMs} ms; qcap inspect (start-up, open, signature): ${inspect.medianMs} ms`);
    return { ...r, payloadMiB: mib, nodeMedianMs: node.medianMs, inspectMedianMs: inspect.medianMs };
  } finally {
    rmSync(cap, { force: true });
  }
}

export function startup(k) {
  const out = [];
  if (want("startup-version")) out.push(version());
  if (want("startup-verify")) out.push(verify(k));
  if (out.length === 0) die("no start-up scenario selected");
  return out;
}

export function startupMarkdown(rec) {
  const load = rec.machine?.loadAverageAtStart?.join(", ") ?? "unknown";
  const L = [
    `Run on ${rec.date} by \`npm run bench\` (whole-process wall times, medians; load average at start ${load}: start-up times grow with the machine's load, compare with \`node -e 0\` of the same run).`,
    "",
  ];
  for (const s of rec.scenarios) {
    if (s.id === "startup-version")
      L.push(
        `- ${s.title}: median **${s.medianMs} ms** over ${s.runs} runs (fastest ${s.minMs} ms; \`node -e 0\` ${s.nodeMedianMs} ms); target <= ${s.targetMs} ms ${s.met ? "(met)" : "(missed)"}`,
      );
    else
      L.push(
        `- ${s.title}: qcap ${s.qcap.medianSeconds.toFixed(3)} s, \`b3sum\` ${s.ref.medianSeconds.toFixed(3)} s, ratio **${s.ratio.toFixed(2)}**; target <= ${s.target.toFixed(1)} ${s.met ? "(met)" : "(missed)"}${s.inspectMedianMs === undefined ? "" : `; without reading the data, \`qcap inspect\` (start-up, open, signature) takes ${s.inspectMedianMs} ms and \`node -e 0\` ${s.nodeMedianMs} ms`}`,
      );
  }
  return L.join("\n");
}
