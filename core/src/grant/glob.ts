/**
 * The path globs of `path` caveats (SPEC §11.2), matched against whole entry names. A small exact
 * grammar rather than a glob library, so that every implementation matches the same names:
 * `*`, `?`, `**` as a whole component, `{a,b}` alternatives, `\` escapes; `[` and `]` are reserved.
 */
import { fail } from "../errors.js";

const MAX_BYTES = 1024;
const MAX_WILDCARDS = 32;
const MAX_ALTERNATIVES = 64;
const MAX_DEPTH = 4;

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;
const literal = (ch: string): string => ch.replace(REGEX_SPECIAL, "\\$&");

class Parser {
  i = 0;
  wildcards = 0;
  alternatives = 0;
  readonly chars: string[];

  constructor(readonly glob: string) {
    this.chars = [...glob];
  }

  bad(why: string): never {
    return fail("input", `invalid path glob ${JSON.stringify(this.glob)}: ${why}`);
  }

  /** A sequence up to the end, or (inside braces) up to an unescaped `,` or `}`. */
  sequence(depth: number, atComponentStart: boolean): string {
    let out = "";
    const c = this.chars;
    // True where a path component starts: the start of the glob, after "/", or at the start of an
    // alternative of braces that themselves start a component.
    let componentStart = atComponentStart;
    while (this.i < c.length) {
      const ch = c[this.i] as string;
      if (depth > 0 && (ch === "," || ch === "}")) break;
      const start = componentStart;
      componentStart = false;
      if (ch === "\\") {
        const next = c[this.i + 1];
        if (next === undefined) this.bad("it ends with an escape");
        out += literal(next as string);
        componentStart = next === "/";
        this.i += 2;
      } else if (ch === "*") {
        out += this.star(depth, start);
      } else if (ch === "?") {
        this.count();
        out += "[^/]";
        this.i++;
      } else if (ch === "{") {
        out += this.braces(depth + 1, start);
      } else if (ch === "}" || ch === ",") {
        // Only reached at depth 0: outside braces they are ordinary characters.
        out += literal(ch);
        this.i++;
      } else if (ch === "[" || ch === "]") {
        this.bad(`"${ch}" is reserved (escape it as \\${ch})`);
      } else {
        out += literal(ch);
        componentStart = ch === "/";
        this.i++;
      }
    }
    return out;
  }

  count(): void {
    if (++this.wildcards > MAX_WILDCARDS) this.bad(`more than ${MAX_WILDCARDS} wildcards`);
  }

  star(depth: number, startsComponent: boolean): string {
    const c = this.chars;
    this.count();
    if (c[this.i + 1] !== "*") {
      this.i++;
      return "[^/]*";
    }
    const after = c[this.i + 2];
    const endsComponent =
      after === undefined || after === "/" || (depth > 0 && (after === "," || after === "}"));
    if (!startsComponent || !endsComponent) this.bad('"**" must be a whole path component');
    if (after === "/") {
      this.i += 3;
      return "(?:[^/]+/)*"; // zero or more whole components
    }
    this.i += 2;
    return ".+"; // the rest of the name: one or more characters, across components
  }

  braces(depth: number, atComponentStart: boolean): string {
    if (depth > MAX_DEPTH) this.bad(`braces nested more than ${MAX_DEPTH} deep`);
    this.i++; // "{"
    const alts: string[] = [];
    for (;;) {
      if (++this.alternatives > MAX_ALTERNATIVES) this.bad(`more than ${MAX_ALTERNATIVES} alternatives`);
      alts.push(this.sequence(depth, atComponentStart));
      const ch = this.chars[this.i];
      if (ch === ",") {
        this.i++;
        continue;
      }
      if (ch === "}") {
        this.i++;
        break;
      }
      this.bad('"{" without a matching "}"');
    }
    return `(?:${alts.join("|")})`;
  }
}

/** Checks a glob against the grammar; returns a matcher of whole entry names. */
export function compileGlob(glob: string): (name: string) => boolean {
  if (typeof glob !== "string" || glob.length === 0) return fail("input", "invalid path glob: empty");
  if (new TextEncoder().encode(glob).length > MAX_BYTES) {
    return fail("input", `invalid path glob: longer than ${MAX_BYTES} bytes`);
  }
  if (glob.normalize("NFC") !== glob) return fail("input", "invalid path glob: not in Unicode NFC");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(glob)) return fail("input", "invalid path glob: control character");
  const p = new Parser(glob);
  const source = p.sequence(0, true);
  const re = new RegExp(`^${source}$`, "u");
  return (name) => re.test(name);
}
