/** Path globs match in time linear in the name, whatever the glob within SPEC §11.2's limits. */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { compileGlob, globMatchSteps } from "../src/grant/glob.js";
import { expectQcapError } from "./crypto-test-utils.js";

/** Steps of one match. */
function cost(glob: string, name: string): { matched: boolean; steps: number } {
  const m = compileGlob(glob);
  const before = globMatchSteps();
  const matched = m(name);
  return { matched, steps: globMatchSteps() - before };
}

// Globs built to make a backtracking matcher explode: many adjacent stars separated by empty
// alternatives, nested braces, and `**/` components, followed by a character the name lacks.
const adversarial: string[] = [
  `payload/**/${"*{,}".repeat(31)}!`,
  `payload/${"*".repeat(1)}${"{,*}".repeat(31)}!`,
  `payload/**/${"{*,{*,{*,{*,}}}}".repeat(7)}!`,
  `payload/${"*/".repeat(30)}**/!`,
  `payload/{${"*a".repeat(16)},${"a*".repeat(16)}}!`,
];

describe("glob matching cost", () => {
  test.each(adversarial)("%s stays within 40 steps per name character and glob character", (glob) => {
    for (const n of [100, 1000, 4000]) {
      const name = `payload/${"a/".repeat(4)}${"a".repeat(n)}`;
      const { matched, steps } = cost(glob, name);
      expect(matched).toBe(false);
      const bound = 40 * ([...name].length + 1) * ([...glob].length + 1);
      expect(steps).toBeLessThanOrEqual(bound);
    }
  });

  test("the cost grows linearly with the name", () => {
    const glob = adversarial[0] as string;
    const small = cost(glob, `payload/${"a".repeat(1000)}`).steps;
    const large = cost(glob, `payload/${"a".repeat(8000)}`).steps;
    expect(large / small).toBeLessThan(8.5);
    expect(large / small).toBeGreaterThan(7);
  });

  test("adversarial globs still match what they describe", () => {
    expect(cost(adversarial[0] as string, "payload/x/y/aaaa!").matched).toBe(true);
    expect(cost(adversarial[3] as string, `payload/${"a/".repeat(30)}b/c/!`).matched).toBe(true);
    expect(cost(adversarial[4] as string, `payload/${"xa".repeat(16)}!`).matched).toBe(true);
  });
});

interface GlobVectors {
  vectors: { glob: string; matches: string[]; rejects: string[] }[];
  invalid: { glob: string; why: string }[];
}
const vectors = JSON.parse(
  readFileSync(new URL("../test-vectors/globs.json", import.meta.url), "utf8"),
) as GlobVectors;

describe("glob vectors (core/test-vectors/globs.json)", () => {
  test.each(vectors.vectors)("$glob", ({ glob, matches, rejects }) => {
    const m = compileGlob(glob);
    for (const name of matches) expect(m(name), name).toBe(true);
    for (const name of rejects) expect(m(name), name).toBe(false);
  });
  test.each(vectors.invalid)("refuses $glob ($why)", ({ glob }) => {
    expectQcapError(() => compileGlob(glob), "input");
  });
});
