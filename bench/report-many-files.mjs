/** The many-small-files section of BENCHMARKS.md, from results.json's `manyFiles` record. */

const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;
const fmt = (n) => n.toLocaleString("en-US");
const verdict = (met) => (met === null || met === undefined ? "" : met ? " (met)" : " (missed)");

export function manyFilesMarkdown(rec) {
  const L = [];
  const m = rec.machine;
  const first = rec.scenarios[0];
  L.push(
    `Run on ${rec.date} by \`npm run bench\` with ${fmt(first.files)} files (\`BENCH_MANY_FILES\`), ${first.runs} timed run${first.runs === 1 ? "" : "s"} per tool (\`BENCH_MANY_RUNS\`), no warm-up run (the inputs were just written and are in the page cache; \`sync\` before each timed run, so that no tool pays for the write-back of an earlier step).`,
  );
  L.push("");
  L.push(
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}; load average at start ${m.loadAverageAtStart.join(", ")}, at end ${rec.loadAverageAtEnd.join(", ")}`,
  );
  L.push(
    `- Versions: Node ${rec.versions.node}, qcap ${rec.versions.qcap}, ${rec.versions.age}, ${rec.versions.b3sum}, ${rec.versions.tar}; Q-Cap engines: BLAKE3 ${rec.implementations.blake3}, CRC-32 ${rec.implementations.crc32}, STREAM ${rec.implementations.stream}`,
  );
  L.push(
    `- Input: ${fmt(first.files)} files, ${fmt(first.inputBytes)} bytes, generated in ${first.generateSeconds} s; capsule ${first.capsuleBytes === undefined ? "?" : fmt(first.capsuleBytes)} bytes, tar.age ${first.tarAgeBytes === undefined ? "?" : fmt(first.tarAgeBytes)} bytes`,
  );
  L.push("- Targets are the format's goals for 1,000,000 files, applied at this size.");
  const rows = rec.scenarios.filter((s) => s.ratio !== undefined);
  if (rows.length > 0) {
    L.push("");
    L.push(
      "| operation | Q-Cap | reference | reference time | ratio (wall) | target | CPU time Q-Cap / reference | Q-Cap peak RSS | reference peak RSS |",
    );
    L.push("|---|---|---|---|---|---|---|---|---|");
    for (const s of rows) {
      const rss = s.rssTargetKiB ? `RSS < ${mib(s.rssTargetKiB)}` : "";
      const target =
        s.target === null
          ? rss
            ? `${rss}${verdict(s.met)}`
            : "none set"
          : `<= ${s.target.toFixed(1)}${rss ? `, ${rss}` : ""}${verdict(s.met)}`;
      L.push(
        `| ${s.title} | ${s.qcap.medianSeconds.toFixed(3)} s | \`${s.reference.replaceAll("|", "\\|")}\` | ${s.ref.medianSeconds.toFixed(3)} s | **${s.ratio.toFixed(2)}** | ${target} | ${s.qcap.medianCpuSeconds.toFixed(2)} s / ${s.ref.medianCpuSeconds.toFixed(2)} s | ${mib(s.qcap.peakRssKiB)} | ${mib(s.ref.peakRssKiB)} |`,
      );
    }
    const portable = rows.filter((s) => s.portable);
    for (const s of portable) {
      L.push(
        `- portable engines (\`QCAP_NATIVE=0\`), ${s.title}: ${s.portable.medianSeconds.toFixed(3)} s, ratio ${s.portable.ratio.toFixed(2)}, peak RSS ${mib(s.portable.peakRssKiB)}`,
      );
    }
  }
  const c = rec.scenarios.find((s) => s.id === "many-files-cat");
  if (c) {
    L.push("");
    L.push(
      `${c.title}: median ${c.medianSeconds.toFixed(3)} s, peak RSS ${mib(c.peakRssKiB)} (target < ${c.targetSeconds} s: ${c.met ? "met" : "missed"}).`,
    );
  }
  const h = rec.scenarios.find((s) => s.id === "many-files-cat-http");
  if (h) {
    L.push("");
    L.push(`${h.title}:`);
    L.push(
      `- ${h.requests} requests (target <= ${h.targetRequests}), ${fmt(h.bytesTransferred)} bytes sent by the server, of which ${fmt(h.entryStoredBytes)} are the file's own stored chunks and ${fmt(h.bytesBesideEntry)} (${(h.bytesBesideEntry / 1024 ** 2).toFixed(1)} MiB) everything else (target <= ${h.targetBytesBesideEntry / 1024} KiB)`,
    );
    L.push(
      `- requests: ${h.requestLog.map((r) => `\`${r.range ?? r.method}\` ${fmt(r.bytes)} bytes`).join(", ")}`,
    );
    L.push(
      `- in process (bench/range-read.mjs: open over HTTP, signature and layout check, key unwrap, read): median ${h.inProcessMedianMs} ms, the first read in a process ${h.inProcessColdMedianMs} ms (target < ${h.targetMs} ms)`,
    );
    L.push(
      `- the whole \`qcap cat\` process: median ${h.cliMedianSeconds.toFixed(3)} s, peak RSS ${mib(h.cliPeakRssKiB)}`,
    );
    L.push(`- all HTTP targets together: ${h.met ? "met" : "missed"}`);
  }
  return L.join("\n");
}
