/** Timing commands: wall time, CPU time and peak RSS from /usr/bin/time, and tool-against-tool runs. */
import { spawn, spawnSync } from "node:child_process";
import { die, log, MiB, RUNS, WORK } from "./config.mjs";

const TIME_FORMAT = ["-f", "BENCH-RSS %M %U %S"];
const TIME_LINE = /BENCH-RSS (\d+) ([\d.]+) ([\d.]+)\s*$/;

/** Runs a command under /usr/bin/time; returns wall seconds, peak RSS (KiB), CPU seconds and output. */
export function measure(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", [...TIME_FORMAT, cmd, ...args], {
    cwd: WORK,
    maxBuffer: 64 * MiB,
    ...opts,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const stderr = r.stderr.toString();
  const m = TIME_LINE.exec(stderr);
  if (r.status !== 0 || !m) {
    die(`${cmd} ${args.join(" ")} failed (exit ${r.status}):\n${stderr.slice(-2000)}`);
  }
  return { seconds, rssKiB: Number(m[1]), cpuSeconds: Number(m[2]) + Number(m[3]), stdout: r.stdout };
}

/**
 * `measure` without blocking this process's event loop (for clients of a server this process
 * talks to). Rejects on a non-zero exit.
 */
export function measureAsync(cmd, args) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn("/usr/bin/time", [...TIME_FORMAT, cmd, ...args], {
      cwd: WORK,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = [];
    const err = [];
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const stderr = Buffer.concat(err).toString();
      const m = TIME_LINE.exec(stderr);
      if (code !== 0 || !m)
        reject(new Error(`${cmd} ${args.join(" ")} failed (${code}): ${stderr.slice(-2000)}`));
      else
        resolve({
          seconds,
          rssKiB: Number(m[1]),
          cpuSeconds: Number(m[2]) + Number(m[3]),
          stdout: Buffer.concat(out),
        });
    });
  });
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
export const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/**
 * With the native engine in use, each Q-Cap command is also timed PORTABLE_RUNS times on the portable
 * engines (QCAP_NATIVE=0) after the alternating runs, against the reference's median from them.
 * `settings.portable` is set once the engine in use is known.
 */
export const PORTABLE_RUNS = 3;
export const settings = { portable: false };

function portableRuns(q, refMedian) {
  const env = { ...process.env, QCAP_NATIVE: "0" };
  const seconds = [];
  const rss = [];
  for (let i = 0; i < PORTABLE_RUNS; i++) {
    q.before?.();
    const r = measure(q.cmd, q.args, { ...q.opts, env });
    seconds.push(r.seconds);
    rss.push(r.rssKiB);
    log(
      `  qcap, portable engines: ${r.seconds.toFixed(3)} s, CPU ${r.cpuSeconds.toFixed(2)} s, ${r.rssKiB} KiB`,
    );
  }
  const m = median(seconds);
  return { medianSeconds: round(m), peakRssKiB: Math.max(...rss), ratio: round(m / refMedian, 2) };
}

/**
 * One warm-up run of each (unless `warmup` is false), then `runs` timed runs of each in alternation
 * (the order flips every round so neither tool always runs on a cache the other just warmed).
 * `before` runs untimed before every run (removing outputs). `target` is the highest ratio allowed,
 * or null for none; `rssTargetKiB`, when given, is a peak-RSS limit for Q-Cap that must hold too.
 */
export function compare(id, title, q, ref, target, opts = {}) {
  const { runs = RUNS, warmup = true, portable = settings.portable, rssTargetKiB } = opts;
  log(`\n== ${title}`);
  const times = { q: [], ref: [] };
  const rss = { q: [], ref: [] };
  const cpu = { q: [], ref: [] };
  const one = (which, timed) => {
    const c = which === "q" ? q : ref;
    c.before?.();
    const r = measure(c.cmd, c.args, c.opts);
    if (timed) {
      times[which].push(r.seconds);
      rss[which].push(r.rssKiB);
      cpu[which].push(r.cpuSeconds);
    }
    log(
      `  ${timed ? "" : "(warm-up) "}${which === "q" ? "qcap" : ref.name}: ${r.seconds.toFixed(3)} s, CPU ${r.cpuSeconds.toFixed(2)} s, ${r.rssKiB} KiB`,
    );
    return r;
  };
  if (warmup) {
    one("q", false);
    one("ref", false);
  }
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ["q", "ref"] : ["ref", "q"];
    for (const w of order) one(w, true);
  }
  const qm = median(times.q);
  const rm = median(times.ref);
  const portableResult = portable ? portableRuns(q, rm) : undefined;
  const qPeak = Math.max(...rss.q);
  const rssMet = rssTargetKiB === undefined || qPeak < rssTargetKiB;
  // With no ratio target, only a memory target (if any) is judged.
  const met = target === null ? (rssTargetKiB === undefined ? null : rssMet) : qm / rm <= target && rssMet;
  const result = {
    id,
    title,
    reference: ref.name,
    qcap: {
      medianSeconds: round(qm),
      runsSeconds: times.q.map((x) => round(x)),
      medianCpuSeconds: round(median(cpu.q), 2),
      peakRssKiB: qPeak,
    },
    ref: {
      medianSeconds: round(rm),
      runsSeconds: times.ref.map((x) => round(x)),
      medianCpuSeconds: round(median(cpu.ref), 2),
      peakRssKiB: Math.max(...rss.ref),
    },
    ratio: round(qm / rm, 2),
    cpuRatio: round(median(cpu.q) / median(cpu.ref), 2),
    ...(portableResult ? { portable: portableResult } : {}),
    target,
    ...(rssTargetKiB !== undefined ? { rssTargetKiB } : {}),
    met,
  };
  log(
    `  median qcap ${qm.toFixed(3)} s, ${ref.name} ${rm.toFixed(3)} s, ratio ${result.ratio} (target ${target === null ? "none" : `<= ${target}`}${rssTargetKiB !== undefined ? `, RSS < ${rssTargetKiB / 1024} MiB` : ""})`,
  );
  return result;
}
