/** The committed bundle and action.yml match the sources, as GitHub runs what is committed. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundle, DIST_FILES } from "../build.mjs";
import { actionDefaults, repoRoot } from "./helpers.js";

const actionYml = readFileSync(join(repoRoot, "action", "action.yml"), "utf8");
const sources = ["inputs.ts", "run.ts", "s3.ts", "oidc.ts"]
  .map((f) => readFileSync(join(repoRoot, "action", "src", f), "utf8"))
  .join("\n");

/** Names under a top-level section of action.yml. */
function names(section: string): string[] {
  const block = actionYml.split(new RegExp(`^${section}:\\s*$`, "m"))[1]?.split(/^\S/m)[0] ?? "";
  return [...block.matchAll(/^ {2}([a-z0-9-]+):\s*$/gm)].map((m) => m[1] as string);
}

describe("action/dist", () => {
  it("dist/index.js and dist/worker.js are the esbuild bundles of the current sources (run `npm run bundle -w @qcap/action`)", async () => {
    const fresh = await bundle();
    for (const [name, path] of Object.entries(DIST_FILES)) {
      expect(
        readFileSync(path).equals(Buffer.from(fresh[name as keyof typeof fresh])),
        `action/dist/${name} is out of date: run \`npm run bundle -w @qcap/action\` and commit it`,
      ).toBe(true);
    }
  });

  it("action.yml runs dist/index.js on node24 and lists exactly the inputs and outputs the code reads", () => {
    expect(actionYml).toMatch(/^runs:\n {2}using: node24\n {2}main: dist\/index\.js\n/m);
    const inputs = names("inputs");
    expect(inputs).toEqual(
      expect.arrayContaining([
        "paths",
        "name",
        "recipients",
        "signing-key",
        "meta",
        "attest",
        "sigstore",
        "output",
        "s3-endpoint",
        "s3-bucket",
        "s3-prefix",
      ]),
    );
    const read = [...sources.matchAll(/core\.getInput\("([a-z0-9-]+)"\)/g)].map((m) => m[1]);
    expect(new Set(read)).toEqual(new Set(inputs));
    expect(names("outputs")).toEqual([
      "capsule-path",
      "merkle-root",
      "digest",
      "attestation-path",
      "attestation-id",
      "attestation-url",
      "url",
    ]);
    const set = [...sources.matchAll(/core\.setOutput\("([a-z-]+)"/g)].map((m) => m[1]);
    expect(new Set(set)).toEqual(new Set(names("outputs")));
    expect(actionDefaults()).toMatchObject({
      attest: "true",
      sigstore: "keyless",
      "include-hidden-files": "false",
      "sigstore-instance": "auto",
      "github-attestation": "false",
    });
    // No fixed service URLs: the instance decides unless an input names one.
    for (const url of ["fulcio-url", "tsa-url", "rekor-url"]) expect(actionDefaults()[url]).toBeUndefined();
  });
});
