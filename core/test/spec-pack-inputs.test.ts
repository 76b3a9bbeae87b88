/**
 * What `qcap pack` makes of its input files: the mode of SPEC §2 (core/test-vectors/modes.json, read
 * back from the central directory's external attributes) and the exit code of §10 for names that
 * break §2 on a case-insensitive file system.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadVectors, qcap, readZip, tempDir } from "./spec-helpers.js";

const dir = tempDir();
const key = join(dir.path, "key.json");
beforeAll(() => {
  expect(qcap(["keygen", "--unprotected", "-o", key]).code).toBe(0);
});
afterAll(() => dir.remove());

function pack(input: string, out: string) {
  return qcap(["pack", input, "--sign-key", key, "--unsealed", "-o", out]);
}

describe("modes.json", () => {
  const v = loadVectors<{ files: { permissions: string; mode: number }[] }>("modes.json");

  test("each permission is packed as its mode", () => {
    const input = join(dir.path, "modes");
    mkdirSync(input);
    for (const f of v.files) {
      const path = join(input, `f${f.permissions}`);
      writeFileSync(path, f.permissions);
      chmodSync(path, Number.parseInt(f.permissions, 8));
    }
    const out = join(dir.path, "modes.qcap");
    const r = pack(input, out);
    expect(r.code, r.stderr).toBe(0);
    const entries = readZip(readFileSync(out));
    for (const f of v.files) {
      const e = entries.find((x) => x.name === `payload/f${f.permissions}`);
      expect(e, f.permissions).toBeDefined();
      // SPEC §7.2: external attributes are (0o100000 | mode) << 16.
      expect(e?.externalAttributes, f.permissions).toBe((0o100000 | f.mode) * 65536);
    }
  });
});

describe("names that clash on a case-insensitive file system are an input error", () => {
  const cases = [
    { what: "two files that differ only in case", files: ["README", "readme"] },
    { what: "a file beside a folder of the same name in another case", files: ["A", "a/b"] },
  ];
  test.each(cases)("$what: exit 2, one line", ({ files }) => {
    const input = join(dir.path, files.join("+").replace(/\//g, "_"));
    for (const f of files) {
      mkdirSync(join(input, f, ".."), { recursive: true });
      writeFileSync(join(input, f), f);
    }
    const out = join(dir.path, "clash.qcap");
    const r = pack(input, out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^qcap: .*(collide after case folding|both a file and a directory)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(() => readFileSync(out)).toThrow();
  });
});
