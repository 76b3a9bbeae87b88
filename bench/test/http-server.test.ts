import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

const tmp = mkdtempSync(join(tmpdir(), "qcap-srv-"));
const SIZE = 32 * 1024 * 1024;
let child: ChildProcess;
let base = "";

beforeAll(async () => {
  const file = join(tmp, "f.bin");
  writeFileSync(file, Buffer.alloc(SIZE, 7));
  child = spawn(process.execPath, [join(import.meta.dirname, "..", "http-server.mjs"), file], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve) =>
    child.stdout?.once("data", (d) => resolve(Number(String(d).trim()))),
  );
  base = `http://127.0.0.1:${port}`;
});
afterAll(() => {
  child.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(async () => {
  await fetch(`${base}/reset`);
});

const stats = async () => (await fetch(`${base}/stats`)).json();

describe("bench/http-server.mjs", () => {
  it("counts requests and the body bytes of ranges, suffix ranges and whole files", async () => {
    expect((await fetch(`${base}/x`, { headers: { range: "bytes=10-19" } })).status).toBe(206);
    const tail = await fetch(`${base}/x`, { headers: { range: "bytes=-100" } });
    expect(tail.headers.get("content-range")).toBe(`bytes ${SIZE - 100}-${SIZE - 1}/${SIZE}`);
    expect((await tail.arrayBuffer()).byteLength).toBe(100);
    expect((await (await fetch(`${base}/x`)).arrayBuffer()).byteLength).toBe(SIZE);
    const s = await stats();
    expect(s.requests).toBe(3);
    expect(s.bytes).toBe(10 + 100 + SIZE);
    expect(s.log).toEqual([
      { method: "GET", range: "bytes=10-19", status: 206, bytes: 10 },
      { method: "GET", range: "bytes=-100", status: 206, bytes: 100 },
      { method: "GET", range: null, status: 200, bytes: SIZE },
    ]);
  });

  it("charges nothing for HEAD or an unsatisfiable range", async () => {
    expect((await fetch(`${base}/x`, { method: "HEAD" })).status).toBe(200);
    expect((await fetch(`${base}/x`, { headers: { range: `bytes=${SIZE}-` } })).status).toBe(416);
    const s = await stats();
    expect(s.requests).toBe(2);
    expect(s.bytes).toBe(0);
  });

  it("charges a client that hangs up early for what was sent, not for the whole file", async () => {
    await new Promise<void>((resolve) => {
      const req = request(`${base}/x`, (res) => {
        res.once("data", () => {
          req.destroy();
          setTimeout(resolve, 200);
        });
      });
      req.end();
    });
    const s = await stats();
    expect(s.requests).toBe(1);
    expect(s.bytes).toBeGreaterThan(0);
    expect(s.bytes).toBeLessThan(SIZE);
  });
});
