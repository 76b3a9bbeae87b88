/**
 * Many small files: N files of 512 B to 4 KiB in nested folders of 1,000 (bench/gen-files.mjs),
 * sealed to one recipient, against tar and age; verify against b3sum; one file read by `qcap cat`
 * locally and over HTTP (requests and bytes counted by bench/http-server.mjs).
 *
 * BENCH_MANY_FILES sets N (default 100,000; 1,000,000 is the format's target size),
 * BENCH_MANY_RUNS the timed runs per tool (default 1: each run of `open` takes minutes at 100,000).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, statSync } from "node:fs";
import { join } from "node:path";
import { CLI, die, envCount, GiB, log, MiB, qcap, ROOT, WORK, want } from "../config.mjs";
import { MAX_SIZE, MIN_SIZE, pathOf } from "../gen-files.mjs";
import { compare, measure, measureAsync, median, round } from "../measure.mjs";
import { startServer } from "../serve.mjs";

export const IDS = [
  "many-files-pack",
  "many-files-pack-hidden",
  "many-files-open",
  "many-files-verify",
  "many-files-cat",
  "many-files-cat-http",
];

/** The format's targets for capsules of many small files (the 1,000,000-file goal). */
export const TARGETS = {
  ratio: 1.0,
  rssKiB: 256 * 1024,
  catSeconds: 0.5,
  httpRequests: 4,
  httpExtraBytes: 256 * 1024,
  httpInProcessMs: 100,
};

const fmt = (n) => n.toLocaleString("en-US");

/** Stops before generating when the disk lacks room or inodes for input, capsule, tar.age and two opened copies. */
function ensureRoom(n) {
  mkdirSync(WORK, { recursive: true });
  const s = statfsSync(WORK);
  const avg = (MIN_SIZE + MAX_SIZE) / 2;
  // Per file: the input, the opened copy from each tool (a 4 KiB block each), the capsule and tar.age.
  const needBytes = n * (3 * 4096 + 2 * (avg + 1024)) + GiB;
  const needInodes = 3 * n + 3 * Math.ceil(n / 1000) + 1000;
  const free = s.bavail * s.bsize;
  log(
    `many files: ${fmt(n)} files need about ${(needBytes / GiB).toFixed(1)} GiB and ${fmt(needInodes)} inodes; ${(free / GiB).toFixed(1)} GiB and ${fmt(s.ffree)} inodes free`,
  );
  if (free < needBytes)
    die(`not enough free disk in ${WORK} for ${fmt(n)} files; set BENCH_DIR or BENCH_MANY_FILES`);
  if (s.ffree < needInodes) die(`not enough free inodes in ${WORK} for ${fmt(n)} files`);
}

/** Whether two trees hold the same files with the same bytes (`diff -r`, quiet). */
function sameTree(a, b) {
  const r = spawnSync("diff", ["-rq", a, b], { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 16 * MiB });
  return r.status === 0;
}

/** Writes dirty pages and inodes out, so that no tool pays for the write-back of an earlier step. */
const sync = () => execFileSync("sync");

/** Runs `prepare`, then `sync`: the set-up of a timed run. */
const settled = (prepare) => {
  prepare();
  sync();
};

export async function manyFiles(k) {
  const n = envCount("BENCH_MANY_FILES", 100_000);
  const runs = envCount("BENCH_MANY_RUNS", 1);
  const portable = process.env.BENCH_MANY_PORTABLE === "1";
  const label = `${fmt(n)} files of 512 B to 4 KiB`;
  ensureRoom(n);

  const dir = join(WORK, "many-in");
  const cap = join(WORK, "many.qcap");
  const tarAge = join(WORK, "many.tar.age");
  const opened = join(WORK, "many-opened");
  const ageOpened = join(WORK, "many-age-opened");
  const clean = () => {
    for (const p of [dir, cap, tarAge, opened, ageOpened]) rmSync(p, { recursive: true, force: true });
  };
  clean();
  // die() exits at once, past the finally below: the generated data goes then too.
  process.once("exit", clean);

  log(`\ngenerating ${label} in folders of 1,000`);
  const gen = measure(process.execPath, [join(ROOT, "bench", "gen-files.mjs"), dir, String(n)]);
  const input = JSON.parse(String(gen.stdout));
  log(`  ${fmt(input.bytes)} bytes in ${gen.seconds.toFixed(1)} s`);
  sync();

  const results = [];
  const info = { files: n, inputBytes: input.bytes, generateSeconds: round(gen.seconds, 1), runs };
  try {
    const pack = {
      ...qcap("pack", dir, "-o", cap, "--sign-key", k.key, "-r", k.recipient, "--json"),
      before: () => settled(() => rmSync(cap, { force: true })),
    };
    const tarPack = {
      name: "tar -c | age -r",
      cmd: "sh",
      args: ["-c", `tar -cf - -C '${dir}' . | age -r ${k.recipient} -o '${tarAge}'`],
      before: () => settled(() => rmSync(tarAge, { force: true })),
    };
    const opts = { runs, warmup: false, portable };
    if (want("many-files-pack")) {
      results.push(
        compare("many-files-pack", `seal ${label}`, pack, tarPack, TARGETS.ratio, {
          ...opts,
          rssTargetKiB: TARGETS.rssKiB,
        }),
      );
    } else {
      for (const c of [pack, tarPack]) {
        c.before();
        measure(c.cmd, c.args);
      }
    }
    if (want("many-files-pack-hidden")) {
      // Hidden names sort by their hashes: pack orders them in runs spilled to a temporary file.
      const hidden = join(WORK, "many-hidden.qcap");
      const packHidden = {
        ...qcap("pack", dir, "-o", hidden, "--sign-key", k.key, "-r", k.recipient, "--hide-names", "--json"),
        before: () => settled(() => rmSync(hidden, { force: true })),
      };
      try {
        results.push(
          compare("many-files-pack-hidden", `seal ${label} with hidden names`, packHidden, tarPack, null, {
            ...opts,
            rssTargetKiB: TARGETS.rssKiB,
          }),
        );
      } finally {
        rmSync(hidden, { force: true });
      }
    }
    info.capsuleBytes = statSync(cap).size;
    info.tarAgeBytes = statSync(tarAge).size;
    log(`  capsule ${fmt(info.capsuleBytes)} bytes, tar.age ${fmt(info.tarAgeBytes)} bytes`);

    if (want("many-files-open")) {
      results.push(
        compare(
          "many-files-open",
          `open (decrypt and verify) the capsule of ${label}`,
          {
            ...qcap("open", cap, "-i", k.key, "-o", opened, "--json"),
            before: () => settled(() => rmSync(opened, { recursive: true, force: true })),
          },
          {
            name: "age -d | tar -x",
            cmd: "sh",
            args: ["-c", `age -d -i '${k.ageId}' '${tarAge}' | tar -xf - -C '${ageOpened}'`],
            before: () =>
              settled(() => {
                rmSync(ageOpened, { recursive: true, force: true });
                mkdirSync(ageOpened);
              }),
          },
          TARGETS.ratio,
          { ...opts, rssTargetKiB: TARGETS.rssKiB },
        ),
      );
      if (!sameTree(dir, opened) || !sameTree(dir, ageOpened)) die("an opened tree differs from the input");
      rmSync(opened, { recursive: true, force: true });
      rmSync(ageOpened, { recursive: true, force: true });
    }

    if (want("many-files-verify")) {
      results.push(
        compare(
          "many-files-verify",
          `verify the capsule of ${label} (signature and every digest)`,
          qcap("verify", cap, "--json"),
          { name: "b3sum", cmd: "b3sum", args: [cap] },
          null,
          opts,
        ),
      );
    }

    // A file in the middle of the capsule, neither first nor last in any folder.
    const one = pathOf(Math.floor(n / 2) + Math.min(123, Math.floor((n - 1) / 2)));
    const want1 = readFileSync(join(dir, one));
    if (want("many-files-cat")) results.push(catLocal(k, cap, one, want1, label, runs));
    if (want("many-files-cat-http")) results.push(await catHttp(k, cap, one, want1, label, runs));
  } finally {
    clean();
  }
  for (const r of results) Object.assign(r, info);
  return results;
}

function catLocal(k, cap, path, expected, label, runs) {
  log(`\n== qcap cat of one file (${expected.length} bytes) of the capsule of ${label}, locally`);
  const seconds = [];
  const rss = [];
  for (let i = 0; i < runs; i++) {
    const r = measure(process.execPath, [CLI, "cat", cap, path, "-i", k.key]);
    if (!expected.equals(r.stdout)) die("qcap cat returned the wrong bytes");
    seconds.push(r.seconds);
    rss.push(r.rssKiB);
    log(`  qcap cat: ${r.seconds.toFixed(3)} s, CPU ${r.cpuSeconds.toFixed(2)} s, ${r.rssKiB} KiB`);
  }
  const m = median(seconds);
  return {
    id: "many-files-cat",
    title: `qcap cat of one file of the capsule of ${label}, locally (whole process)`,
    path,
    medianSeconds: round(m),
    runsSeconds: seconds.map((x) => round(x)),
    peakRssKiB: Math.max(...rss),
    targetSeconds: TARGETS.catSeconds,
    met: m < TARGETS.catSeconds,
  };
}

async function catHttp(k, cap, path, expected, label, runs) {
  log(`\n== qcap cat URL PATH of one file (${expected.length} bytes) of the capsule of ${label}, over HTTP`);
  const server = await startServer(cap);
  const out = join(WORK, "many-cat.out");
  const cli = [];
  const lib = [];
  let failure = null;
  try {
    for (let i = 0; i < runs; i++) {
      await server.reset();
      const r = await measureAsync(process.execPath, [CLI, "cat", server.url, path, "-i", k.key]);
      const s = await server.stats();
      if (!expected.equals(r.stdout)) throw new Error("qcap cat over HTTP returned the wrong bytes");
      cli.push({ seconds: r.seconds, rssKiB: r.rssKiB, ...s });
      log(
        `  qcap cat: ${r.seconds.toFixed(3)} s, ${r.rssKiB} KiB, ${s.requests} requests, ${fmt(s.bytes)} bytes (${s.log.map((l) => `${l.range ?? l.method}: ${l.bytes}`).join("; ")})`,
      );
      // The same read through the library, timed inside one process (bench/range-read.mjs).
      await server.reset();
      const l = await measureAsync(process.execPath, [
        join(ROOT, "bench", "range-read.mjs"),
        server.url,
        k.key,
        `payload/${path}`,
        "0",
        String(expected.length),
        out,
      ]);
      if (!expected.equals(readFileSync(out)))
        throw new Error("library read over HTTP returned the wrong bytes");
      const j = JSON.parse(String(l.stdout));
      lib.push(j);
      log(`  in process: first read ${j.coldMs.toFixed(1)} ms, second ${j.warmMs.toFixed(1)} ms`);
    }
  } catch (e) {
    failure = e;
  } finally {
    server.stop();
    if (existsSync(out)) rmSync(out, { force: true });
  }
  if (failure) die(String(failure.message ?? failure));
  const stored = lib[0].stored;
  const requests = Math.max(...cli.map((c) => c.requests));
  const bytes = Math.max(...cli.map((c) => c.bytes));
  const result = {
    id: "many-files-cat-http",
    title: `qcap cat URL PATH of one file of the capsule of ${label}, over HTTP on loopback`,
    path,
    requests,
    bytesTransferred: bytes,
    entryStoredBytes: stored,
    bytesBesideEntry: bytes - stored,
    requestLog: cli[0].log,
    cliMedianSeconds: round(median(cli.map((c) => c.seconds))),
    cliPeakRssKiB: Math.max(...cli.map((c) => c.rssKiB)),
    inProcessColdMedianMs: round(median(lib.map((l) => l.coldMs)), 1),
    inProcessMedianMs: round(median(lib.map((l) => l.warmMs)), 1),
    targetRequests: TARGETS.httpRequests,
    targetBytesBesideEntry: TARGETS.httpExtraBytes,
    targetMs: TARGETS.httpInProcessMs,
  };
  result.met =
    requests <= TARGETS.httpRequests &&
    result.bytesBesideEntry <= TARGETS.httpExtraBytes &&
    result.inProcessMedianMs < TARGETS.httpInProcessMs;
  return result;
}
