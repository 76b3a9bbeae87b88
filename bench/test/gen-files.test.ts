import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const GEN = join(import.meta.dirname, "..", "gen-files.mjs");
const tmp = mkdtempSync(join(tmpdir(), "qcap-gen-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const gen = (dir: string, n: string) => spawnSync(process.execPath, [GEN, dir, n], { encoding: "utf8" });

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();
}

describe("bench/gen-files.mjs", () => {
  it("writes N files of 512 B to 4 KiB in folders of 1,000 and reports their total", () => {
    const dir = join(tmp, "a");
    const r = gen(dir, "2500");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    const names = files(dir);
    expect(names).toHaveLength(2500);
    expect(out).toEqual({
      files: 2500,
      folders: 3,
      bytes: names.reduce((s, f) => s + statSync(join(dir, f)).size, 0),
    });
    expect(names[0]).toBe("g00/d00/f000.bin");
    expect(names.at(-1)).toBe("g00/d02/f499.bin");
    expect(readdirSync(join(dir, "g00", "d01"))).toHaveLength(1000);
    const sizes = names.map((f) => statSync(join(dir, f)).size);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(512);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4096);
    expect(new Set(sizes).size).toBeGreaterThan(1000);
    // Distinct content: no two files alike.
    const contents = new Set(names.map((f) => readFileSync(join(dir, f)).toString("base64")));
    expect(contents.size).toBe(2500);
  });

  it("writes the same bytes on every run; a shorter run is a prefix of a longer one", () => {
    const a = join(tmp, "a");
    const b = join(tmp, "b");
    expect(gen(b, "1200").status).toBe(0);
    for (const f of files(b)) expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f)))).toBe(true);
  });

  it("refuses a missing or non-numeric count with a usage line and exit 2", () => {
    for (const n of ["", "x", "0", "-3"]) {
      const r = gen(join(tmp, "c"), n);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^usage: gen-files\.mjs DIR N/);
    }
  });
});
