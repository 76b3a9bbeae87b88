// S3 calls against an endpoint that accepts connections and never answers: each call fails within
// its timeout, an abandoned reconcile's signal ends them at once, and the per-destination limit keeps
// one destination from taking every slot.
import { createServer, type Server, type Socket } from "node:net";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_S3_TIMEOUTS,
  isUnreachable,
  S3DeadlineError,
  s3Client,
  setS3Timeouts,
} from "../../src/s3/client.ts";
import { DestinationLimiter } from "../../src/s3/destination-limit.ts";
import { s3Sink } from "../../src/s3/sink.ts";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

let silent: Server;
const sockets = new Set<Socket>();
let endpoint = "";

beforeAll(async () => {
  // Accepts TCP and reads whatever comes, never writes a byte back.
  silent = createServer((s) => {
    sockets.add(s);
    s.on("data", () => {});
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
});

afterAll(() => {
  for (const s of sockets) s.destroy();
  silent?.close();
});

afterEach(() => setS3Timeouts(DEFAULT_S3_TIMEOUTS));

const client = (signal?: AbortSignal) =>
  s3Client({ endpoint, accessKeyId: "AKIDEXAMPLE", secretAccessKey: "not-a-real-secret", signal });

async function timed(p: Promise<unknown>): Promise<{ ms: number; err: unknown }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    return { ms: Date.now() - t0, err };
  }
  throw new Error("expected the call to fail");
}

describe("S3 calls are bounded", () => {
  it("a silent socket fails the call after the idle timeout (one retry)", async () => {
    setS3Timeouts({ idleMs: 500, requestMs: 60_000 });
    const { ms, err } = await timed(client().send(new HeadObjectCommand({ Bucket: "b", Key: "k" })));
    expect(isUnreachable(err)).toBe(true);
    expect(ms).toBeLessThan(5_000);
  });

  it("a call past its deadline fails with a timeout, whatever the socket does", async () => {
    setS3Timeouts({ idleMs: 60_000, requestMs: 800 });
    const { ms, err } = await timed(client().send(new HeadObjectCommand({ Bucket: "b", Key: "k" })));
    expect(err).toBeInstanceOf(S3DeadlineError);
    expect((err as Error).message).toBe("no answer from the S3 endpoint within 800 ms");
    expect(isUnreachable(err)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(3_000);
  });

  it("the reconcile's signal aborts a call in flight", async () => {
    setS3Timeouts({ idleMs: 60_000, requestMs: 60_000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const { ms, err } = await timed(client(ac.signal).send(new HeadObjectCommand({ Bucket: "b", Key: "k" })));
    expect((err as Error).name).toBe("AbortError");
    expect(ms).toBeLessThan(2_000);
  });

  it("an upload into a silent endpoint fails within the deadline instead of hanging", async () => {
    setS3Timeouts({ idleMs: 60_000, requestMs: 1_000 });
    const sink = s3Sink({ client: client(), bucket: "b", key: "k.qcap" });
    const { ms } = await timed(
      (async () => {
        await sink.write(Buffer.alloc(64 * 1024, 7));
        await sink.close();
      })(),
    );
    expect(ms).toBeLessThan(5_000);
  });

  it("an abandoned reconcile's signal ends an upload at once", async () => {
    setS3Timeouts({ idleMs: 60_000, requestMs: 60_000 });
    const ac = new AbortController();
    // Only the sink has the signal: the upload itself must stop.
    const sink = s3Sink({ client: client(), bucket: "b", key: "k.qcap", signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    const { ms } = await timed(
      (async () => {
        for (let i = 0; i < 4; i++) await sink.write(Buffer.alloc(1 << 20, i));
        await sink.close();
      })(),
    );
    expect(ms).toBeLessThan(2_000);
  });
});

describe("DestinationLimiter", () => {
  it("admits `limit` holders per destination, wakes one waiter per release, leaves others alone", () => {
    const woken: string[] = [];
    const l = new DestinationLimiter(1, (k) => woken.push(k));
    const dead = DestinationLimiter.destinationKey("http://dead:9000/", "b");
    const live = DestinationLimiter.destinationKey("http://s3:9000", "b");
    const r1 = l.tryAcquire(dead, "a/one");
    expect(r1).toBeTypeOf("function");
    expect(l.tryAcquire(dead, "a/two")).toBeUndefined();
    expect(l.tryAcquire(dead, "a/three")).toBeUndefined();
    const r2 = l.tryAcquire(live, "b/new");
    expect(r2).toBeTypeOf("function");
    r1?.();
    r1?.(); // idempotent
    expect(woken).toEqual(["a/two"]);
    expect(l.inUse(dead)).toBe(0);
    r2?.();
    expect(woken).toEqual(["a/two"]);
    expect(DestinationLimiter.destinationKey("http://dead:9000", "b")).toBe(dead);
  });
});
