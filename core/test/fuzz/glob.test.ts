/**
 * Path globs: the compiler throws nothing but typed errors, and the automaton agrees with a
 * reference translation to a backtracking regular expression (the earlier implementation) on small
 * globs and names, where backtracking stays cheap.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { compileGlob } from "../../src/grant/glob.js";
import { params, timeout, typedOnly } from "./fuzz-helpers.js";

/** The reference: each glob construct as a regular expression, straight from SPEC §11.2. */
function referenceMatcher(glob: string): (name: string) => boolean {
  const c = [...glob];
  let i = 0;
  const lit = (ch: string) => ch.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  const seq = (depth: number, start: boolean): string => {
    let out = "";
    let componentStart = start;
    while (i < c.length) {
      const ch = c[i] as string;
      if (depth > 0 && (ch === "," || ch === "}")) break;
      const atStart = componentStart;
      componentStart = false;
      if (ch === "\\") {
        out += lit(c[i + 1] as string);
        componentStart = c[i + 1] === "/";
        i += 2;
      } else if (ch === "*" && c[i + 1] === "*") {
        if (!atStart) throw new Error("unreachable: compileGlob accepted it");
        if (c[i + 2] === "/") {
          out += "(?:[^/]+/)*";
          i += 3;
        } else {
          out += "[\\s\\S]+";
          i += 2;
        }
      } else if (ch === "*") {
        out += "[^/]*";
        i++;
      } else if (ch === "?") {
        out += "[^/]";
        i++;
      } else if (ch === "{") {
        i++;
        const alts: string[] = [];
        for (;;) {
          alts.push(seq(depth + 1, atStart));
          if (c[i] === ",") i++;
          else {
            i++;
            break;
          }
        }
        out += `(?:${alts.join("|")})`;
      } else {
        out += lit(ch);
        componentStart = ch === "/";
        i++;
      }
    }
    return out;
  };
  const re = new RegExp(`^${seq(0, true)}$`, "u");
  return (name) => re.test(name);
}

const globChars = fc.constantFrom("a", "b", "/", "*", "**", "**/", "?", "{", "}", ",", "\\", "é");
const glob = fc.array(globChars, { maxLength: 14 }).map((a) => a.join(""));
const name = fc
  .array(fc.constantFrom("a", "b", "/", "é", "*", ","), { maxLength: 12 })
  .map((a) => a.join(""));

describe("fuzz: path globs", () => {
  test(
    "compileGlob throws only typed errors; a compiled glob answers a boolean",
    () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 64 }), fc.string({ maxLength: 32 }), (g, n) => {
          typedOnly(() => expect(typeof compileGlob(g)(n)).toBe("boolean"));
        }),
        params,
      );
    },
    timeout,
  );

  test(
    "the automaton agrees with the reference backtracking matcher",
    () => {
      fc.assert(
        fc.property(glob, fc.array(name, { minLength: 1, maxLength: 8 }), (g, names) => {
          let m: (n: string) => boolean;
          try {
            m = compileGlob(g);
          } catch {
            return; // refused globs are the grammar tests' business
          }
          const ref = referenceMatcher(g);
          for (const n of names) expect(m(n), `${g} on ${n}`).toBe(ref(n));
        }),
        params,
      );
    },
    timeout,
  );
});
