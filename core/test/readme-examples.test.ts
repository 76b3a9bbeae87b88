/**
 * The examples of core/README.md, one per entry point, run as they are written: each `js` block
 * under a heading naming an entry point is an ES module importing the built package by name
 * (through a node_modules link, as an installed copy would be), and must print the line its last
 * `// prints:` comment gives.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.js";

const CORE = join(import.meta.dirname, "..");
const readme = readFileSync(join(CORE, "README.md"), "utf8");
const exportsMap = JSON.parse(readFileSync(join(CORE, "package.json"), "utf8")).exports as Record<
  string,
  unknown
>;

/** The example under each "## `@qcap/core…`" heading, by entry point ("." or "./sub"). */
function examples(): Map<string, { code: string; prints: string }> {
  const out = new Map<string, { code: string; prints: string }>();
  const re = /^## `@qcap\/core(\/[a-z]+)?`\n[\s\S]*?```js\n([\s\S]*?)```/gm;
  for (const m of readme.matchAll(re)) {
    const code = m[2] as string;
    const prints = /\/\/ prints: (.*)\n$/.exec(code)?.[1];
    if (prints === undefined)
      throw new Error(`the example of @qcap/core${m[1] ?? ""} has no "// prints:" line`);
    out.set(m[1] ? `.${m[1]}` : ".", { code, prints });
  }
  return out;
}

const tmp = tempDir("qcap-readme-");
afterAll(() => tmp.remove());
mkdirSync(join(tmp.path, "node_modules", "@qcap"), { recursive: true });
symlinkSync(CORE, join(tmp.path, "node_modules", "@qcap", "core"), "dir");

describe("core/README.md examples", () => {
  const found = examples();

  it("has one for each entry point", () => {
    expect([...found.keys()].sort()).toEqual(Object.keys(exportsMap).sort());
  });

  for (const [entry, { code, prints }] of found) {
    it(`${entry} runs and prints what it says`, () => {
      const file = join(tmp.path, `example-${entry === "." ? "main" : entry.slice(2)}.mjs`);
      writeFileSync(file, code);
      const r = spawnSync(process.execPath, [file], { encoding: "utf8", cwd: tmp.path });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(prints);
    });
  }
});
