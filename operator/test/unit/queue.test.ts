// The work queue: one worker per key at a time, deduplication, re-processing of keys added while busy,
// exponential back-off on errors.
import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/duration.js";
import { WorkQueue } from "../../src/kube/queue.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("WorkQueue", () => {
  it("never runs one key twice at once and re-runs a key added while it was running", async () => {
    const q = new WorkQueue({ baseDelayMs: 10 });
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    q.run(
      4,
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        if (runs === 1) await gate;
        running--;
        return undefined;
      },
      () => {},
    );
    q.add("a");
    await sleep(20);
    q.add("a");
    q.add("a");
    q.add("a");
    await sleep(20);
    expect(runs).toBe(1);
    release();
    await sleep(50);
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
    await q.shutdown();
  });

  it("retries failures with exponential back-off and forgets them after a success", async () => {
    const q = new WorkQueue({ baseDelayMs: 20, maxDelayMs: 1000 });
    const times: number[] = [];
    const delays: number[] = [];
    q.run(
      1,
      async () => {
        times.push(Date.now());
        if (times.length < 4) throw new Error("boom");
        return undefined;
      },
      (_k, _e, d) => delays.push(d),
    );
    q.add("k");
    await sleep(400);
    expect(delays).toEqual([20, 40, 80]);
    expect(times.length).toBe(4);
    expect(q.addRateLimited("k")).toBe(20);
    await q.shutdown();
  });

  it("parses durations as the CRDs write them", () => {
    expect(parseDuration("10m")).toBe(600_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("250ms")).toBe(250);
    expect(() => parseDuration("10")).toThrow();
    expect(() => parseDuration("")).toThrow();
  });
});
