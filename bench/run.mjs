#!/usr/bin/env node
/**
 * `npm run bench`: Q-Cap against the reference tools (age, b3sum, tar | age) on generated inputs,
 * in one process tree, alternating the two tools run by run. Writes bench/results.json and the
 * generated section of BENCHMARKS.md.
 *
 * Environment: BENCH_RUNS (timed runs per tool, default 5), BENCH_DIR (work folder, default
 * bench/out/work; needs about 7 GiB free), BENCH_ONLY (comma-separated scenario ids to run),
 * BENCH_MANY_FILES / BENCH_MANY_RUNS / BENCH_MANY_PORTABLE (bench/scenarios/many-files.mjs),
 * BENCH_STARTUP_RUNS / BENCH_VERIFY_MIB (bench/scenarios/startup.mjs),
 * BENCH_PYTHON_MIB / BENCH_PYTHON_RANGE_MIB (bench/scenarios/python.mjs).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { CLI, die, GiB, log, MiB, qcap, ROOT, RUNS, WORK, want } from "./config.mjs";
import { compare, measure, measureAsync, median, PORTABLE_RUNS, round, settings } from "./measure.mjs";
import { manyFilesMarkdown } from "./report-many-files.mjs";
import { IDS as MANY_FILES, manyFiles } from "./scenarios/many-files.mjs";
import { IDS as PYTHON, python, pythonMarkdown, pythonWanted } from "./scenarios/python.mjs";
import { IDS as STARTUP, startup, startupMarkdown } from "./scenarios/startup.mjs";
import { startServer } from "./serve.mjs";

const NEED_FREE = 7 * GiB;

// ---- tools ------------------------------------------------------------------------------------

/** The reference tools come from Debian; install them when missing (as root), else say what to do. */
function ensureTools() {
  const need = { age: "age", "age-keygen": "age", b3sum: "b3sum", tar: "tar", time: "time" };
  const has = (cmd) =>
    cmd === "time"
      ? existsSync("/usr/bin/time")
      : spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
  const missing = [
    ...new Set(
      Object.entries(need)
        .filter(([c]) => !has(c))
        .map(([, p]) => p),
    ),
  ];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    die(`missing tools; install them first: sudo apt-get install -y ${missing.join(" ")}`);
  }
  log(`installing ${missing.join(" ")} (apt-get)`);
  const r = spawnSync(
    "sh",
    [
      "-c",
      `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(" ")}`,
    ],
    { stdio: "inherit" },
  );
  if (r.status !== 0) die(`apt-get install ${missing.join(" ")} failed`);
}

const version = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8" }).trim().split("\n")[0];
  } catch {
    return "unknown";
  }
};

/** `qcap pack --recipient` of a folder, measured. */
const sealWithCli = (k, dir, cap) =>
  measure(process.execPath, [CLI, "pack", dir, "-o", cap, "--sign-key", k.key, "-r", k.recipient, "--json"]);

// ---- inputs -----------------------------------------------------------------------------------

/** A file of `size` pseudo-random bytes (AES-CTR output of node:crypto, written 16 MiB at a time). */
function randomFile(path, size) {
  const fd = openSync(path, "w");
  const buf = Buffer.alloc(16 * MiB);
  for (let at = 0; at < size; at += buf.length) {
    const n = Math.min(buf.length, size - at);
    randomFillSync(buf, 0, n);
    writeSync(fd, buf, 0, n);
  }
  closeSync(fd);
}

/** A sparse file of `size` bytes holding random bytes only in [at, at + len). */
function sparseFile(path, size, at, len) {
  const fd = openSync(path, "w");
  const buf = randomFillSync(Buffer.alloc(len));
  writeSync(fd, buf, 0, len, at);
  writeSync(fd, Buffer.from("end"), 0, 3, size - 3);
  closeSync(fd);
}

const b3 = (path) => execFileSync("b3sum", ["--no-names", path], { encoding: "utf8" }).trim();

function ensureFree() {
  mkdirSync(WORK, { recursive: true });
  const s = statfsSync(WORK);
  const free = s.bavail * s.bsize;
  log(`work folder ${WORK}: ${(free / GiB).toFixed(1)} GiB free (needs about ${NEED_FREE / GiB} GiB)`);
  if (free < NEED_FREE)
    die(`not enough free disk in ${WORK}; set BENCH_DIR to a folder with ${NEED_FREE / GiB} GiB free`);
}

// ---- scenarios --------------------------------------------------------------------------------

function keys() {
  const key = join(WORK, "key.json");
  rmSync(key, { force: true });
  // Key files are passphrase-protected by default where `--unprotected` exists; the bench needs the
  // age identity in clear for `age -d`.
  const withFlag = spawnSync(process.execPath, [CLI, "keygen", "-o", key, "--unprotected", "--json"]);
  if (withFlag.status !== 0)
    execFileSync(process.execPath, [CLI, "keygen", "-o", key, "--json"], { stdio: "ignore" });
  const k = JSON.parse(readFileSync(key, "utf8"));
  const ageId = join(WORK, "age-identity.txt");
  writeFileSync(ageId, `${k.identity}\n`, { mode: 0o600 });
  return { key, ageId, recipient: k.public.recipient };
}

function oneGiB(k) {
  const dir = join(WORK, "seal-in");
  mkdirSync(dir, { recursive: true });
  const input = join(dir, "data.bin");
  log(`\ngenerating 1 GiB of random data`);
  randomFile(input, GiB);
  const cap = join(WORK, "one.qcap");
  const ageOut = join(WORK, "one.age");
  const results = [];
  results.push(
    compare(
      "seal-1gib",
      "seal a 1 GiB file to one X25519 recipient",
      {
        ...qcap("pack", dir, "-o", cap, "--sign-key", k.key, "-r", k.recipient, "--json"),
        before: () => rmSync(cap, { force: true }),
      },
      {
        name: "age -r",
        cmd: "age",
        args: ["-r", k.recipient, "-o", ageOut, input],
        before: () => rmSync(ageOut, { force: true }),
      },
      1.0,
    ),
  );
  const opened = join(WORK, "opened");
  const ageOpened = join(WORK, "age-opened.bin");
  results.push(
    compare(
      "open-1gib",
      "open (decrypt and verify) the 1 GiB capsule",
      {
        ...qcap("open", cap, "-i", k.key, "-o", opened, "--json"),
        before: () => rmSync(opened, { recursive: true, force: true }),
      },
      {
        name: "age -d",
        cmd: "age",
        args: ["-d", "-i", k.ageId, "-o", ageOpened, ageOut],
        before: () => rmSync(ageOpened, { force: true }),
      },
      1.0,
    ),
  );
  const expected = b3(input);
  if (b3(join(opened, "data.bin")) !== expected || b3(ageOpened) !== expected)
    die("opened output differs from the input");
  rmSync(opened, { recursive: true, force: true });
  rmSync(ageOpened, { force: true });
  results.push(
    compare(
      "verify-1gib",
      "verify the 1 GiB capsule (signature and every digest)",
      qcap("verify", cap, "--json"),
      { name: "b3sum", cmd: "b3sum", args: [cap] },
      1.0,
    ),
  );
  rmSync(dir, { recursive: true, force: true });
  rmSync(cap, { force: true });
  rmSync(ageOut, { force: true });
  return results;
}

function smallFiles(k) {
  const dir = join(WORK, "small-in");
  rmSync(dir, { recursive: true, force: true });
  log(`\ngenerating 20,000 files of 4 KiB`);
  const buf = Buffer.alloc(4096);
  for (let d = 0; d < 100; d++) {
    const sub = join(dir, `d${String(d).padStart(3, "0")}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 200; f++)
      writeFileSync(join(sub, `f${String(f).padStart(4, "0")}.bin`), randomFillSync(buf));
  }
  const cap = join(WORK, "small.qcap");
  const out = join(WORK, "small.tar.age");
  const r = compare(
    "small-files",
    "seal 20,000 files of 4 KiB",
    {
      ...qcap("pack", dir, "-o", cap, "--sign-key", k.key, "-r", k.recipient, "--json"),
      before: () => rmSync(cap, { force: true }),
    },
    {
      name: "tar -c | age -r",
      cmd: "sh",
      args: ["-c", `tar -cf - -C '${dir}' . | age -r ${k.recipient} -o '${out}'`],
      before: () => rmSync(out, { force: true }),
    },
    1.0,
  );
  rmSync(dir, { recursive: true, force: true });
  rmSync(cap, { force: true });
  rmSync(out, { force: true });
  return r;
}

async function rangeRead(k) {
  log(`\n== range read: 1 MiB in the middle of a 4 GiB file, over HTTP`);
  const dir = join(WORK, "range-in");
  mkdirSync(dir, { recursive: true });
  const input = join(dir, "raster.bin");
  const size = 4 * GiB;
  const offset = 2 * GiB + 12345; // not chunk-aligned: 17 chunks
  const length = MiB;
  sparseFile(input, size, offset - MiB, 3 * MiB);
  const cap = join(WORK, "capsule.qcap");
  rmSync(cap, { force: true });
  const packed = sealWithCli(k, dir, cap);
  log(`  sealed the 4 GiB file in ${packed.seconds.toFixed(2)} s (peak RSS ${packed.rssKiB} KiB)`);
  const expected = Buffer.alloc(length);
  const fd = openSync(input, "r");
  const { readSync } = await import("node:fs");
  readSync(fd, expected, 0, length, offset);
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });

  const server = await startServer(cap);
  const outFile = join(WORK, "range.out");
  const cli = [];
  const lib = [];
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      await server.reset();
      const r = await measureAsync(process.execPath, [
        CLI,
        "cat",
        server.url,
        "raster.bin",
        "--offset",
        String(offset),
        "--length",
        String(length),
        "-i",
        k.key,
      ]);
      const s = await server.stats();
      if (!expected.equals(r.stdout)) die("range read returned the wrong bytes");
      if (i > 0) cli.push({ seconds: r.seconds, ...s });
      const l = await measureAsync(process.execPath, [
        join(ROOT, "bench", "range-read.mjs"),
        server.url,
        k.key,
        "payload/raster.bin",
        String(offset),
        String(length),
        outFile,
      ]);
      if (!expected.equals(readFileSync(outFile))) die("library range read returned the wrong bytes");
      if (i > 0) lib.push(JSON.parse(String(l.stdout)));
    }
  } finally {
    server.stop();
    rmSync(cap, { force: true });
    rmSync(outFile, { force: true });
  }
  const bytes = Math.max(...cli.map((c) => c.bytes), ...lib.map((c) => c.bytes));
  const result = {
    id: "range-read",
    title: "read and verify 1 MiB at offset 2 GiB + 12345 of a sealed 4 GiB file over HTTP",
    packSeconds: round(packed.seconds),
    packPeakRssKiB: packed.rssKiB,
    bytesTransferred: bytes,
    requests: Math.max(...cli.map((c) => c.requests)),
    inProcessColdMedianMs: round(median(lib.map((l) => l.coldMs)), 1),
    inProcessMedianMs: round(median(lib.map((l) => l.warmMs)), 1),
    cliMedianSeconds: round(median(cli.map((c) => c.seconds))),
    targetBytes: 1.25 * MiB,
    targetMs: 100,
  };
  result.met = result.bytesTransferred <= result.targetBytes && result.inProcessMedianMs < result.targetMs;
  log(
    `  ${bytes} bytes in ${result.requests} requests; in-process ${result.inProcessMedianMs} ms (first read in the process ${result.inProcessColdMedianMs} ms), CLI ${result.cliMedianSeconds} s`,
  );
  return result;
}

function bigFile(k) {
  log(`\n== peak RSS: seal and verify a 5 GiB file`);
  const dir = join(WORK, "big-in");
  mkdirSync(dir, { recursive: true });
  const size = 5 * GiB + 12345;
  sparseFile(join(dir, "raster.bin"), size, GiB, 64 * MiB);
  const cap = join(WORK, "big.qcap");
  rmSync(cap, { force: true });
  const p = sealWithCli(k, dir, cap);
  log(`  seal: ${p.seconds.toFixed(2)} s, peak RSS ${p.rssKiB} KiB`);
  const v = measure(process.execPath, [CLI, "verify", cap, "--json"]);
  log(`  verify: ${v.seconds.toFixed(2)} s, peak RSS ${v.rssKiB} KiB`);
  rmSync(dir, { recursive: true, force: true });
  rmSync(cap, { force: true });
  const limit = 128 * 1024;
  return {
    id: "rss-5gib",
    title: "peak RSS sealing and verifying a 5 GiB file",
    sealSeconds: round(p.seconds),
    sealPeakRssKiB: p.rssKiB,
    verifySeconds: round(v.seconds),
    verifyPeakRssKiB: v.rssKiB,
    targetKiB: limit,
    met: p.rssKiB < limit && v.rssKiB < limit,
  };
}

// ---- report -----------------------------------------------------------------------------------

function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memoryGiB: round(totalmem() / GiB, 1),
    kernel: release(),
    loadAverageAtStart: loadavg().map((x) => round(x, 2)),
  };
}

async function implementations() {
  const { blake3Implementation } = await import("../core/dist/hash/blake3.js");
  const { crc32Implementation } = await import("../core/dist/hash/crc32.js");
  const { chunkCipherImplementation } = await import("../core/dist/crypto/stream.js");
  return { blake3: blake3Implementation, crc32: crc32Implementation(), stream: chunkCipherImplementation };
}

const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;

function markdown(res) {
  const L = [];
  const m = res.machine;
  L.push(`Run on ${res.date} by \`npm run bench\` (${res.runs} timed runs per tool, alternating; medians).`);
  L.push("");
  L.push(
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}; load average at start ${m.loadAverageAtStart.join(", ")}, at end ${res.loadAverageAtEnd.join(", ")}`,
  );
  L.push(
    `- Versions: Node ${res.versions.node}, qcap ${res.versions.qcap}, ${res.versions.age}, ${res.versions.b3sum}, ${res.versions.tar}`,
  );
  L.push(
    `- Q-Cap engines: BLAKE3 ${res.implementations.blake3}, CRC-32 ${res.implementations.crc32}, STREAM ${res.implementations.stream}`,
  );
  L.push("");
  L.push(
    "| scenario | Q-Cap median | reference | reference median | ratio (wall) | target | CPU time Q-Cap / reference | Q-Cap peak RSS | reference peak RSS |",
  );
  L.push("|---|---|---|---|---|---|---|---|---|");
  for (const s of res.scenarios.filter((x) => x.ratio !== undefined)) {
    L.push(
      `| ${s.title} | ${s.qcap.medianSeconds.toFixed(3)} s | \`${s.reference.replaceAll("|", "\\|")}\` | ${s.ref.medianSeconds.toFixed(3)} s | **${s.ratio.toFixed(2)}** | <= ${s.target.toFixed(1)} ${s.met ? "(met)" : "(missed)"} | ${s.qcap.medianCpuSeconds.toFixed(2)} s / ${s.ref.medianCpuSeconds.toFixed(2)} s | ${mib(s.qcap.peakRssKiB)} | ${mib(s.ref.peakRssKiB)} |`,
    );
  }
  L.push("");
  L.push(
    "CPU time is user + system time of the whole process tree (all threads), from `/usr/bin/time`: the work each tool does, which depends less than wall time on what else the machine runs (though contention inflates it too).",
  );
  const portable = res.scenarios.filter((x) => x.portable !== undefined);
  if (portable.length > 0) {
    L.push("");
    L.push(
      `The same Q-Cap commands on the portable engines (\`QCAP_NATIVE=0\`: libsodium, prebuilt BLAKE3 and CRC-32 addons, worker threads), ${PORTABLE_RUNS} runs each after the runs above, against the reference medians above:`,
    );
    for (const s of portable) {
      L.push(
        `- ${s.title}: ${s.portable.medianSeconds.toFixed(3)} s, ratio ${s.portable.ratio.toFixed(2)}, peak RSS ${mib(s.portable.peakRssKiB)}`,
      );
    }
  }
  const r = res.scenarios.find((x) => x.id === "range-read");
  if (r) {
    L.push("");
    L.push(`Range read (${r.title}):`);
    L.push(
      `- transferred ${r.bytesTransferred} bytes (${(r.bytesTransferred / MiB).toFixed(3)} MiB) in ${r.requests} requests (target <= 1.25 MiB): payload, index groups, ZIP directory and manifest together`,
    );
    L.push(
      `- in-process, each read from scratch (open over HTTP with signature check, unwrap key, fetch, verify, decrypt): median ${r.inProcessMedianMs} ms (target < 100 ms); the first read in a process, which also pays the one-time initialisation of Node's fetch and of the curve libraries: median ${r.inProcessColdMedianMs} ms`,
    );
    L.push(
      `- the whole \`qcap cat\` process, including Node start-up and module loading: median ${r.cliMedianSeconds.toFixed(3)} s`,
    );
    L.push(`- sealing the 4 GiB file took ${r.packSeconds.toFixed(1)} s, peak RSS ${mib(r.packPeakRssKiB)}`);
  }
  const b = res.scenarios.find((x) => x.id === "rss-5gib");
  if (b) {
    L.push("");
    L.push(
      `5 GiB file: seal ${b.sealSeconds.toFixed(1)} s with peak RSS ${mib(b.sealPeakRssKiB)}; verify ${b.verifySeconds.toFixed(1)} s with peak RSS ${mib(b.verifyPeakRssKiB)} (target < 128 MiB: ${b.met ? "met" : "missed"}).`,
    );
  }
  return L.join("\n");
}

/**
 * Writes bench/results.json and BENCHMARKS.md's generated sections. The many-small-files scenarios
 * have a section and a `manyFiles` record of their own; a run that skipped one part (BENCH_ONLY)
 * keeps that part of the previous results as it was.
 */
function writeReport(res) {
  const json = join(ROOT, "bench", "results.json");
  const previous = existsSync(json) ? JSON.parse(readFileSync(json, "utf8")) : null;
  const isMany = (s) => MANY_FILES.includes(s.id);
  const isStartup = (s) => STARTUP.includes(s.id);
  const isPython = (s) => PYTHON.includes(s.id);
  const main = res.scenarios.filter((s) => !isMany(s) && !isStartup(s) && !isPython(s));
  const many = res.scenarios.filter(isMany);
  const started = res.scenarios.filter(isStartup);
  const pythonRun = res.scenarios.filter(isPython);
  const {
    manyFiles: previousMany,
    startup: previousStartup,
    python: previousPython,
    ...previousMain
  } = previous ?? {};
  const out = main.length > 0 || !previous ? { ...res, scenarios: main } : previousMain;
  const manyRecord =
    many.length > 0
      ? {
          date: res.date,
          machine: res.machine,
          versions: res.versions,
          implementations: res.implementations,
          loadAverageAtEnd: res.loadAverageAtEnd,
          scenarios: many,
        }
      : previousMany;
  if (manyRecord) out.manyFiles = manyRecord;
  const startupRecord =
    started.length > 0 ? { date: res.date, machine: res.machine, scenarios: started } : previousStartup;
  if (startupRecord) out.startup = startupRecord;
  const pythonRecord =
    pythonRun.length > 0 ? { date: res.date, machine: res.machine, scenarios: pythonRun } : previousPython;
  if (pythonRecord) out.python = pythonRecord;
  writeFileSync(json, `${JSON.stringify(out, null, 2)}\n`);

  const path = join(ROOT, "BENCHMARKS.md");
  let doc = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n";
  const section = (text, name, body) => {
    const begin = `<!-- bench:${name}begin (generated by npm run bench) -->`;
    const end = `<!-- bench:${name}end -->`;
    const block = `${begin}\n${body}\n${end}`;
    const a = text.indexOf(begin);
    const z = text.indexOf(end);
    return a >= 0 && z > a
      ? text.slice(0, a) + block + text.slice(z + end.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  };
  if (main.length > 0 || !previous) doc = section(doc, "", markdown(out));
  if (many.length > 0) doc = section(doc, "many-files:", manyFilesMarkdown(manyRecord));
  if (started.length > 0) doc = section(doc, "startup:", startupMarkdown(startupRecord));
  if (pythonRun.length > 0) doc = section(doc, "python:", pythonMarkdown(pythonRecord));
  writeFileSync(path, doc);
  log(`\nwrote bench/results.json and BENCHMARKS.md`);
  return out;
}

// ---- main -------------------------------------------------------------------------------------

if (!existsSync(CLI)) die("core is not built: run `npm run build` first (npm run bench does)");
ensureTools();
ensureFree();
const res = {
  date: new Date().toISOString(),
  runs: RUNS,
  machine: machine(),
  versions: {
    node: process.versions.node,
    qcap: version(process.execPath, [CLI, "--version"]).replace(/^qcap /, ""),
    age: `age ${version("age", ["--version"])}`,
    b3sum: version("b3sum", ["--version"]),
    tar: version("tar", ["--version"]),
  },
  implementations: await implementations(),
  scenarios: [],
};
// The portable engines are measured too when the native one is what `qcap` uses.
settings.portable = res.implementations.stream === "native";
const k = keys();
if (want("seal-1gib") || want("open-1gib") || want("verify-1gib")) res.scenarios.push(...oneGiB(k));
if (want("small-files")) res.scenarios.push(smallFiles(k));
if (want("range-read")) res.scenarios.push(await rangeRead(k));
if (want("rss-5gib")) res.scenarios.push(bigFile(k));
if (MANY_FILES.some(want)) res.scenarios.push(...(await manyFiles(k)));
if (STARTUP.some(want)) res.scenarios.push(...startup(k));
if (pythonWanted()) res.scenarios.push(...(await python(k)));
res.loadAverageAtEnd = loadavg().map((x) => round(x, 2));
const out = writeReport(res);
if (
  res.scenarios.some((s) => !MANY_FILES.includes(s.id) && !STARTUP.includes(s.id) && !PYTHON.includes(s.id))
)
  process.stdout.write(`${markdown(out)}\n`);
if (out.startup && res.scenarios.some((s) => STARTUP.includes(s.id)))
  process.stdout.write(`\n${startupMarkdown(out.startup)}\n`);
if (out.python && res.scenarios.some((s) => PYTHON.includes(s.id)))
  process.stdout.write(`\n${pythonMarkdown(out.python)}\n`);
if (out.manyFiles && res.scenarios.some((s) => MANY_FILES.includes(s.id)))
  process.stdout.write(`\n${manyFilesMarkdown(out.manyFiles)}\n`);
