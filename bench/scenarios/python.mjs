/**
 * The Python SDK (python/) against the `qcap` CLI, as ratios and counts measured in one run:
 * - python-open: `python -m qcap open` of a sealed capsule against `qcap open` of the same capsule,
 *   alternating runs (target <= 1.5 x the CLI's wall time);
 * - python-rss: the peak RSS of `python -m qcap open` at two payload sizes (target < 128 MiB at both,
 *   so that it does not grow with the file);
 * - python-range: a verified 1 MiB range in the middle of a sealed remote capsule over HTTP, read by
 *   `python -m qcap cat` and by `qcap cat`; bytes and requests counted by the server (target: equal).
 *
 * BENCH_PYTHON_MIB sets the payload of the opened capsule in MiB (default 1024; the second RSS size is
 * an eighth of it); BENCH_PYTHON_RANGE_MIB the size of the remote file (default 4096). The Python
 * environment is the one scripts/ensure-deps.mjs prepares (QCAP_PYTHON_VENV to use another); the
 * package runs from python/src.
 */
import { execFileSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CLI, die, envCount, log, MiB, ONLY, qcap, ROOT, RUNS, WORK, want } from "../config.mjs";
import { compare, measure, measureAsync, median, round } from "../measure.mjs";
import { noiseFile } from "../noise-file.mjs";
import { startServer } from "../serve.mjs";

export const IDS = ["python-open", "python-rss", "python-range"];

export const TARGETS = { openRatio: 1.5, rssKiB: 128 * 1024 };

/** Whether any Python scenario runs (BENCH_ONLY=python selects them all). */
export const pythonWanted = () => IDS.some(want) || (ONLY?.has("python") ?? false);
const wanted = (id) => want(id) || (ONLY?.has("python") ?? false);

const venv = process.env.QCAP_PYTHON_VENV ?? join(homedir(), ".cache/qcap-python/venv");
const PYTHON = join(venv, "bin", "python");
const pyPath = join(ROOT, "python", "src");
const pyEnv = () => ({ ...process.env, PYTHONPATH: pyPath });
const py = (...args) => ({ cmd: PYTHON, args: ["-m", "qcap", ...args], opts: { env: pyEnv() } });

const b3 = (path) => execFileSync("b3sum", ["--no-names", path], { encoding: "utf8" }).trim();

/** A sealed capsule of one file of `mib` MiB; returns its path and the input's BLAKE3. */
function sealed(k, name, mib) {
  const dir = join(WORK, `${name}-in`);
  const cap = join(WORK, `${name}.qcap`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`\ngenerating ${mib} MiB for ${name}`);
  noiseFile(join(dir, "data.bin"), mib * MiB, 0x9e3779b9 ^ mib);
  const digest = b3(join(dir, "data.bin"));
  rmSync(cap, { force: true });
  measure(process.execPath, [CLI, "pack", dir, "-o", cap, "--sign-key", k.key, "-r", k.recipient, "--json"]);
  rmSync(dir, { recursive: true, force: true });
  return { cap, digest };
}

function openScenario(k, mib) {
  const { cap, digest } = sealed(k, "python-open", mib);
  const pyOut = join(WORK, "python-opened");
  const cliOut = join(WORK, "cli-opened");
  try {
    // The CLI is compare()'s first tool and Python its reference, so that the log names both; the
    // ratio is then taken the other way round: Python / CLI.
    const title = `open (decrypt and verify) a sealed capsule of ${mib} MiB: python -m qcap against qcap`;
    const r = compare(
      "python-open",
      title,
      {
        ...qcap("open", cap, "-i", k.key, "-o", cliOut, "--json"),
        before: () => rmSync(cliOut, { recursive: true, force: true }),
      },
      {
        name: "python -m qcap open",
        ...py("open", cap, "-i", k.key, "-o", pyOut, "--json"),
        before: () => rmSync(pyOut, { recursive: true, force: true }),
      },
      null,
      { portable: false },
    );
    if (b3(join(pyOut, "data.bin")) !== digest || b3(join(cliOut, "data.bin")) !== digest)
      die("an opened file differs from the input");
    const ratio = round(r.ref.medianSeconds / r.qcap.medianSeconds, 2);
    log(`  python / qcap: ${ratio} (target <= ${TARGETS.openRatio})`);
    return {
      id: "python-open",
      title,
      payloadMiB: mib,
      python: r.ref,
      cli: r.qcap,
      ratio,
      cpuRatio: round(r.ref.medianCpuSeconds / r.qcap.medianCpuSeconds, 2),
      target: TARGETS.openRatio,
      met: ratio <= TARGETS.openRatio,
    };
  } finally {
    rmSync(cap, { force: true });
    rmSync(pyOut, { recursive: true, force: true });
    rmSync(cliOut, { recursive: true, force: true });
  }
}

/** Peak RSS of the Python open at each size (median-free: the largest of `runs` runs). */
function rssScenario(k, sizes, known) {
  log(`\n== peak RSS of python -m qcap open at ${sizes.join(" and ")} MiB`);
  const points = [];
  for (const mib of sizes) {
    const have = known.find((p) => p.mib === mib);
    if (have) {
      points.push(have);
      continue;
    }
    const { cap, digest } = sealed(k, "python-rss", mib);
    const out = join(WORK, "python-rss-opened");
    const rss = [];
    try {
      for (let i = 0; i < Math.min(RUNS, 3); i++) {
        rmSync(out, { recursive: true, force: true });
        const { cmd, args, opts } = py("open", cap, "-i", k.key, "-o", out, "--json");
        const r = measure(cmd, args, opts);
        rss.push(r.rssKiB);
        log(`  ${mib} MiB: ${r.seconds.toFixed(3)} s, ${r.rssKiB} KiB`);
      }
      if (b3(join(out, "data.bin")) !== digest) die("the opened file differs from the input");
    } finally {
      rmSync(cap, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
    points.push({ mib, peakRssKiB: Math.max(...rss) });
  }
  const peaks = points.map((p) => p.peakRssKiB);
  return {
    id: "python-rss",
    title: "peak RSS of python -m qcap open (sealed capsule)",
    points,
    targetKiB: TARGETS.rssKiB,
    met: peaks.every((x) => x < TARGETS.rssKiB),
  };
}

/** A sparse file of `size` bytes holding random bytes only in [at, at + len). */
function sparseFile(path, size, at, len) {
  const fd = openSync(path, "w");
  writeSync(fd, randomFillSync(Buffer.alloc(len)), 0, len, at);
  writeSync(fd, Buffer.from("end"), 0, 3, size - 3);
  closeSync(fd);
}

async function rangeScenario(k, mib) {
  log(`\n== python range read: 1 MiB in the middle of a sealed ${mib} MiB file over HTTP`);
  const dir = join(WORK, "python-range-in");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const input = join(dir, "raster.bin");
  const size = mib * MiB;
  const offset = Math.floor(size / 2) + 12345; // not chunk-aligned
  const length = Math.min(MiB, size - offset);
  sparseFile(input, size, Math.max(0, offset - MiB), Math.min(3 * MiB, size - Math.max(0, offset - MiB) - 3));
  const expected = Buffer.alloc(length);
  const fd = openSync(input, "r");
  readSync(fd, expected, 0, length, offset);
  closeSync(fd);
  const cap = join(WORK, "python-range.qcap");
  rmSync(cap, { force: true });
  const packed = measure(process.execPath, [
    CLI,
    "pack",
    dir,
    "-o",
    cap,
    "--sign-key",
    k.key,
    "-r",
    k.recipient,
    "--json",
  ]);
  log(`  sealed in ${packed.seconds.toFixed(2)} s`);
  rmSync(dir, { recursive: true, force: true });
  const server = await startServer(cap);
  const runs = { python: [], ts: [] };
  const range = ["raster.bin", "--offset", String(offset), "--length", String(length), "-i", k.key];
  try {
    for (let i = 0; i < Math.max(1, Math.min(RUNS, 3)); i++) {
      const order = i % 2 === 0 ? ["python", "ts"] : ["ts", "python"];
      for (const who of order) {
        await server.reset();
        const r =
          who === "python"
            ? await measureAsync("env", [
                `PYTHONPATH=${pyPath}`,
                PYTHON,
                "-m",
                "qcap",
                "cat",
                server.url,
                ...range,
              ])
            : await measureAsync(process.execPath, [CLI, "cat", server.url, ...range]);
        const s = await server.stats();
        if (!expected.equals(r.stdout)) die(`${who} range read returned the wrong bytes`);
        runs[who].push({
          seconds: r.seconds,
          rssKiB: r.rssKiB,
          requests: s.requests,
          bytes: s.bytes,
          log: s.log,
        });
        log(`  ${who}: ${s.bytes} bytes in ${s.requests} requests, ${r.seconds.toFixed(3)} s`);
      }
    }
  } finally {
    server.stop();
    rmSync(cap, { force: true });
  }
  const summary = (xs) => ({
    bytes: Math.max(...xs.map((x) => x.bytes)),
    requests: Math.max(...xs.map((x) => x.requests)),
    medianSeconds: round(median(xs.map((x) => x.seconds))),
    peakRssKiB: Math.max(...xs.map((x) => x.rssKiB)),
    ranges: xs[0].log.map((l) => l.range),
  });
  const pyReader = summary(runs.python);
  const tsReader = summary(runs.ts);
  log(`  python ranges: ${pyReader.ranges.join(" ")}\n  qcap ranges:   ${tsReader.ranges.join(" ")}`);
  return {
    id: "python-range",
    title: `read and verify 1 MiB at offset ${offset} of a sealed ${mib} MiB file over HTTP`,
    fileMiB: mib,
    pythonReader: pyReader,
    tsReader,
    met: pyReader.bytes === tsReader.bytes && pyReader.requests === tsReader.requests,
  };
}

export async function python(k) {
  if (!existsSync(PYTHON))
    die(`no Python environment at ${venv}: run node scripts/ensure-deps.mjs (or set QCAP_PYTHON_VENV)`);
  const mib = envCount("BENCH_PYTHON_MIB", 1024);
  const version = pythonVersion();
  const out = [];
  const known = [];
  if (wanted("python-open")) {
    const r = openScenario(k, mib);
    known.push({ mib, peakRssKiB: r.python.peakRssKiB });
    out.push(r);
  }
  if (wanted("python-rss")) out.push(rssScenario(k, [Math.max(1, Math.floor(mib / 8)), mib], known));
  if (wanted("python-range")) out.push(await rangeScenario(k, envCount("BENCH_PYTHON_RANGE_MIB", 4096)));
  return out.map((r) => ({ ...r, interpreter: version }));
}

const mibOf = (kib) => `${(kib / 1024).toFixed(0)} MiB`;

export function pythonMarkdown(rec) {
  const load = rec.machine?.loadAverageAtStart?.join(", ") ?? "unknown";
  const L = [
    `Run on ${rec.date} by \`npm run bench\` (whole-process wall times, alternating, medians; load average at start ${load}). ${rec.scenarios[0]?.interpreter ?? "Python unknown"}, package from python/src.`,
    "",
  ];
  for (const s of rec.scenarios) {
    if (s.id === "python-open")
      L.push(
        `- ${s.title}: python ${s.python.medianSeconds.toFixed(3)} s (CPU ${s.python.medianCpuSeconds.toFixed(2)} s, peak RSS ${mibOf(s.python.peakRssKiB)}), qcap ${s.cli.medianSeconds.toFixed(3)} s (CPU ${s.cli.medianCpuSeconds.toFixed(2)} s, peak RSS ${mibOf(s.cli.peakRssKiB)}), ratio **${s.ratio.toFixed(2)}**; target <= ${s.target.toFixed(1)} ${s.met ? "(met)" : "(missed)"}`,
      );
    else if (s.id === "python-rss")
      L.push(
        `- ${s.title}: ${s.points.map((p) => `${p.mib} MiB payload: **${mibOf(p.peakRssKiB)}**`).join("; ")}; target < ${mibOf(s.targetKiB)} at every size ${s.met ? "(met)" : "(missed)"}`,
      );
    else if (s.id === "python-range")
      L.push(
        `- ${s.title}: python ${s.pythonReader.bytes} bytes in ${s.pythonReader.requests} requests (${s.pythonReader.medianSeconds.toFixed(3)} s), qcap ${s.tsReader.bytes} bytes in ${s.tsReader.requests} requests (${s.tsReader.medianSeconds.toFixed(3)} s), counted by the server; target: equal ${s.met ? "(met)" : "(missed)"}`,
      );
  }
  return L.join("\n");
}

/** The Python version the scenarios ran with, for the report. */
export function pythonVersion() {
  try {
    return execFileSync(PYTHON, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}
