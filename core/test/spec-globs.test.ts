/**
 * SPEC §11.2 wildcard limit: core/test-vectors/globs.json counted as the text says (independently of
 * the library), and the library accepting exactly those at or below 32.
 */
import { describe, expect, test } from "vitest";
import { QcapError } from "../src/errors.js";
import { compileGlob } from "../src/grant/glob.js";
import { loadVectors } from "./spec-helpers.js";

const v = loadVectors<{ vectors: { glob: string }[]; invalid: { glob: string; why: string }[] }>(
  "globs.json",
);

/** Each unescaped `?` or `*` one, each `**` one, wherever it is (braces included). */
function wildcards(glob: string): number {
  let n = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "\\") i++;
    else if (c === "?") n++;
    else if (c === "*") {
      n++;
      if (glob[i + 1] === "*") i++;
    }
  }
  return n;
}

/** Undefined when the library accepts the glob, else its reason. */
const refusal = (glob: string): string | undefined => {
  try {
    compileGlob(glob);
    return undefined;
  } catch (e) {
    if (e instanceof QcapError && e.kind === "input") return e.message;
    throw e;
  }
};

describe("globs.json wildcard limit", () => {
  test("valid globs have at most 32 wildcards, and the limit is reached inside braces", () => {
    const counts = v.vectors.map((x) => wildcards(x.glob));
    expect(Math.max(...counts)).toBe(32);
    const atLimit = v.vectors.filter((x) => wildcards(x.glob) === 32);
    expect(atLimit.filter((x) => x.glob.includes("{**,**")).length).toBeGreaterThan(0);
    expect(atLimit.filter((x) => x.glob.includes("{**,{?,*}}")).length).toBeGreaterThan(0);
    for (const x of atLimit) expect(refusal(x.glob), x.glob).toBeUndefined();
  });

  test("one over the limit inside braces is refused", () => {
    const over = v.invalid.filter((x) => wildcards(x.glob) === 33);
    expect(over.length).toBeGreaterThanOrEqual(3);
    for (const x of over) {
      expect(x.glob).toContain("{");
      expect(refusal(x.glob), x.why).toMatch(/more than 32 wildcards/);
    }
  });
});
