/**
 * SPEC §2 name rules and §1 index order against core/test-vectors/names.json: the library's name
 * checks, an independent reading of the rules (and Python's `str.lower`, the second implementation's),
 * and the order the `qcap` CLI writes content entries in.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { QcapError } from "../src/errors.js";
import { checkNameSet, validateEntryName } from "../src/zip/names.js";
import { loadVectors, qcap, readZip, tempDir } from "./spec-helpers.js";

interface NameVectors {
  validNames: string[];
  invalidNames: { name: string; why: string }[];
  validSets: { names: string[]; why: string }[];
  invalidSets: { names: string[]; why: string }[];
  order: string[];
}
const v = loadVectors<NameVectors>("names.json");

/** The set rule as SPEC §2 words it, written without the library. */
function setBreaksRule(names: string[]): boolean {
  const folded = names.map((n) => n.toLowerCase());
  if (new Set(folded).size !== folded.length) return true;
  return folded.some((a) => folded.some((b) => a !== b && b.startsWith(`${a}/`)));
}

const refusal = (f: () => void): QcapError | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    if (e instanceof QcapError) return e;
    throw e;
  }
};

describe("names.json against the library", () => {
  test.each(v.validNames.map((name) => ({ name })))("accepts $name", ({ name }) => {
    expect(refusal(() => validateEntryName(name))).toBeUndefined();
  });
  test.each(v.invalidNames)("refuses a name: $why", ({ name }) => {
    expect(refusal(() => validateEntryName(name))?.kind).toBe("format");
  });
  test.each(v.validSets)("accepts the set $names: $why", ({ names }) => {
    expect(setBreaksRule(names)).toBe(false);
    expect(refusal(() => checkNameSet(names))).toBeUndefined();
    expect(refusal(() => checkNameSet([...names].reverse()))).toBeUndefined();
  });
  test.each(v.invalidSets)("refuses the set $names: $why", ({ names }) => {
    expect(setBreaksRule(names)).toBe(true);
    expect(refusal(() => checkNameSet(names))?.kind).toBe("format");
    expect(refusal(() => checkNameSet([...names].reverse()))?.kind).toBe("format");
  });
  test("order is by UTF-8 bytes", () => {
    const enc = new TextEncoder();
    const byBytes = [...v.order].reverse().sort((a, b) => Buffer.compare(enc.encode(a), enc.encode(b)));
    expect(byBytes).toEqual(v.order);
    // UTF-16 order differs, which is why the vector is there.
    expect([...v.order].sort()).not.toEqual(v.order);
  });
});

describe.skipIf(spawnSync("python3", ["--version"]).status !== 0)("names.json against Python", () => {
  test("str.lower gives the same verdicts", () => {
    const script = `
import json, sys
v = json.load(sys.stdin)
def bad(names):
    f = [n.lower() for n in names]
    return len(set(f)) < len(f) or any(a != b and b.startswith(a + "/") for a in f for b in f)
print(json.dumps([[bad(s["names"]) for s in v["validSets"]], [bad(s["names"]) for s in v["invalidSets"]]]))
`;
    const r = spawnSync("python3", ["-c", script], {
      input: readFileSync(join(import.meta.dirname, "..", "test-vectors", "names.json")),
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const [valid, invalid] = JSON.parse(r.stdout) as [boolean[], boolean[]];
    expect(valid.every((b) => !b)).toBe(true);
    expect(invalid.every((b) => b)).toBe(true);
  });
});

describe("the CLI packs content entries in index order", () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  test("names of names.json `order`", () => {
    const key = join(dir.path, "key.json");
    expect(qcap(["keygen", "--unprotected", "-o", key]).code).toBe(0);
    for (const name of v.order) {
      const [top, ...rest] = name.split("/");
      const path = join(dir.path, top === "payload" ? "in" : "meta", ...rest);
      mkdirSync(join(path, ".."), { recursive: true });
      writeFileSync(path, name);
    }
    const out = join(dir.path, "c.qcap");
    const r = qcap([
      "pack",
      join(dir.path, "in"),
      "--meta",
      join(dir.path, "meta"),
      "--sign-key",
      key,
      "--unsealed",
      "-o",
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const entries = readZip(readFileSync(out));
    const content = entries
      .map((e) => e.name)
      .filter((n) => n.startsWith("payload/") || n.startsWith("meta/"));
    const manifest = entries.find((e) => e.name === "manifest.json");
    const version = JSON.parse(new TextDecoder().decode(manifest?.data)).qcap;
    // Version 1 (SPEC §14) put payload/ before meta/, each in byte order; version 2 sorts them as one.
    const expected =
      version === 1
        ? [
            ...v.order.filter((n) => n.startsWith("payload/")),
            ...v.order.filter((n) => n.startsWith("meta/")),
          ]
        : v.order;
    expect(version === 1 || version === 2).toBe(true);
    expect(content).toEqual(expected);
  });
});
