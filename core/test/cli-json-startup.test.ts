/**
 * What each CLI run loads: only the command that runs. Module loads are recorded by a loader hook
 * (node:module register), so the test sees the real import graph, not a timing.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliPath, qcap, tempDir } from "./helpers.js";

const tmp = tempDir();
const dir = (...p: string[]) => join(tmp.path, ...p);

beforeAll(() => {
  writeFileSync(
    dir("hooks.mjs"),
    `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(dir("loaded.txt"))}, url + "\\n");
  return next(url, context);
}
`,
  );
  writeFileSync(
    dir("register.mjs"),
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(dir("hooks.mjs")).href)});\n`,
  );
  mkdirSync(dir("src"));
  writeFileSync(dir("src", "a.txt"), "a\n");
  expect(qcap(["keygen", "-o", dir("k.json"), "--unprotected"]).code).toBe(0);
  expect(
    qcap(["pack", dir("src"), "-o", dir("a.qcap"), "--sign-key", dir("k.json"), "--unsealed"]).code,
  ).toBe(0);
});
afterAll(() => tmp.remove());

/** The modules of core/dist (as `cli/main.js`) and the packages a run of `args` loaded. */
function loaded(args: string[]): { core: string[]; packages: string[] } {
  rmSync(dir("loaded.txt"), { force: true });
  const r = spawnSync(process.execPath, ["--import", dir("register.mjs"), cliPath, ...args], {
    encoding: "utf8",
  });
  expect(r.status, r.stderr).toBe(0);
  const urls = readFileSync(dir("loaded.txt"), "utf8").trim().split("\n");
  return {
    core: urls.flatMap((u) => /\/core\/dist\/(.*)$/.exec(u)?.[1] ?? []),
    packages: urls.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []),
  };
}

describe("start-up loads only what the command needs", () => {
  it("--version loads no command and not the option parser", () => {
    const l = loaded(["--version"]);
    expect(l.core).toContain("cli/version.js");
    expect(l.packages).not.toContain("commander");
    expect(l.core.filter((m) => /^cli\/(commands|keygen|grant|capsule-cli|output)\.js$/.test(m))).toEqual([]);
    expect(l.core).not.toContain("capsule.js");
    // With the native kernels, the portable engines (and their self-tests) are not loaded either.
    if (JSON.parse(qcap(["--version", "--json"]).stdout).engine === "native")
      expect(l.core).not.toContain("crypto/stream.js");
    else expect(l.core).toContain("crypto/stream.js");
  });

  it("keygen loads neither the capsule commands nor the grant ones", () => {
    const l = loaded(["keygen", "-o", dir("k2.json"), "--unprotected"]);
    expect(l.core).toContain("cli/keygen.js");
    for (const m of ["cli/commands.js", "cli/grant.js", "cli/revoke.js", "cli/recipients.js", "pack.js"])
      expect(l.core).not.toContain(m);
  });

  it("verify loads its code but not the other commands' modules", () => {
    const l = loaded(["verify", dir("a.qcap")]);
    expect(l.core).toContain("cli/commands.js");
    for (const m of [
      "cli/keygen.js",
      "cli/grant.js",
      "cli/attenuate.js",
      "cli/revoke.js",
      "cli/recipients.js",
    ])
      expect(l.core).not.toContain(m);
  });

  it("help NAME loads only that command's options; --help loads them all", () => {
    const one = loaded(["help", "revoke"]);
    expect(one.core).toContain("cli/revoke.js");
    expect(one.core).not.toContain("cli/capsule-cli.js");
    const all = loaded(["--help"]);
    for (const m of ["cli/revoke.js", "cli/capsule-cli.js", "cli/keygen.js", "cli/completion.js"])
      expect(all.core).toContain(m);
    // Listing the capsule commands does not load their code.
    expect(all.core).not.toContain("cli/commands.js");
  });
});
