/**
 * The path globs of `path` caveats (SPEC §11.2), matched against whole entry names. A small exact
 * grammar rather than a glob library, so that every implementation matches the same names:
 * `*`, `?`, `**` as a whole component, `{a,b}` alternatives, `\` escapes; `[` and `]` are reserved.
 *
 * A glob compiles to a Thompson NFA simulated over a set of states, never to a backtracking regular
 * expression: a match costs at most (code points of the name + 1) × (states + edges) steps, whatever
 * the glob, so a grant cannot make `open` spin.
 */
import { fail } from "../errors.js";

const MAX_BYTES = 1024;
const MAX_WILDCARDS = 32;
const MAX_ALTERNATIVES = 64;
const MAX_DEPTH = 4;
const SLASH = 0x2f;

// The parsed glob: literal code points, `?`, `*`, `**/` (whole components), a final `**`, braces.
type Item =
  | { t: "lit"; cp: number }
  | { t: "one" }
  | { t: "star" }
  | { t: "dirs" }
  | { t: "rest" }
  | { t: "alt"; alts: Item[][] };

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
  sequence(depth: number, atComponentStart: boolean): Item[] {
    const out: Item[] = [];
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
        out.push({ t: "lit", cp: (next as string).codePointAt(0) as number });
        componentStart = next === "/";
        this.i += 2;
      } else if (ch === "*") {
        out.push(this.star(depth, start));
      } else if (ch === "?") {
        this.count();
        out.push({ t: "one" });
        this.i++;
      } else if (ch === "{") {
        out.push(this.braces(depth + 1, start));
      } else if (ch === "[" || ch === "]") {
        this.bad(`"${ch}" is reserved (escape it as \\${ch})`);
      } else {
        // Outside braces "," and "}" are ordinary characters and land here too.
        out.push({ t: "lit", cp: ch.codePointAt(0) as number });
        componentStart = ch === "/";
        this.i++;
      }
    }
    return out;
  }

  /** `*`, `?` and `**` count one wildcard per occurrence, inside braces too (SPEC §11.2). */
  count(): void {
    if (++this.wildcards > MAX_WILDCARDS) this.bad(`more than ${MAX_WILDCARDS} wildcards`);
  }

  star(depth: number, startsComponent: boolean): Item {
    const c = this.chars;
    this.count();
    if (c[this.i + 1] !== "*") {
      this.i++;
      return { t: "star" };
    }
    const after = c[this.i + 2];
    const endsComponent =
      after === undefined || after === "/" || (depth > 0 && (after === "," || after === "}"));
    if (!startsComponent || !endsComponent) this.bad('"**" must be a whole path component');
    if (after === "/") {
      this.i += 3;
      return { t: "dirs" }; // zero or more whole components, each followed by "/"
    }
    this.i += 2;
    return { t: "rest" }; // the rest of the name: one or more characters, across components
  }

  braces(depth: number, atComponentStart: boolean): Item {
    if (depth > MAX_DEPTH) this.bad(`braces nested more than ${MAX_DEPTH} deep`);
    this.i++; // "{"
    const alts: Item[][] = [];
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
    return { t: "alt", alts };
  }
}

// NFA states. EPS states consume nothing and lead to all of `outs`; the others consume one code point.
const EPS = 0;
const LIT = 1; // the code point `cp`
const NOT_SLASH = 2; // any code point but "/"
const ANY = 3; // any code point
const MATCH = 4;

interface State {
  kind: number;
  cp: number;
  outs: number[];
}

/** Builds the NFA right to left: each item is compiled with the state that follows it. */
class Nfa {
  readonly states: State[] = [];

  add(kind: number, outs: number[], cp = -1): number {
    this.states.push({ kind, cp, outs });
    return this.states.length - 1;
  }

  sequence(items: Item[], next: number): number {
    let n = next;
    for (let k = items.length - 1; k >= 0; k--) n = this.item(items[k] as Item, n);
    return n;
  }

  item(it: Item, next: number): number {
    switch (it.t) {
      case "lit":
        return this.add(LIT, [next], it.cp);
      case "one":
        return this.add(NOT_SLASH, [next]);
      case "star": {
        const split = this.add(EPS, [next]);
        const any = this.add(NOT_SLASH, [split]);
        (this.states[split] as State).outs.unshift(any);
        return split;
      }
      case "dirs": {
        // (?:[^/]+/)*: split → (component char → (more chars | "/" → split)) | next
        const split = this.add(EPS, [next]);
        const more = this.add(EPS, []);
        const char = this.add(NOT_SLASH, [more]);
        const slash = this.add(LIT, [split], SLASH);
        (this.states[more] as State).outs.push(char, slash);
        (this.states[split] as State).outs.unshift(char);
        return split;
      }
      case "rest": {
        const more = this.add(EPS, []);
        const any = this.add(ANY, [more]);
        (this.states[more] as State).outs.push(any, next);
        return any;
      }
      case "alt":
        return this.add(
          EPS,
          it.alts.map((a) => this.sequence(a, next)),
        );
    }
  }
}

let steps = 0;

/** Steps taken by every glob match so far (state visits and edges followed): for tests of the bound. */
export function globMatchSteps(): number {
  return steps;
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
  const items = new Parser(glob).sequence(0, true);
  const nfa = new Nfa();
  const start = nfa.sequence(items, nfa.add(MATCH, []));
  const states = nfa.states;
  const count = states.length;
  // seen[s] === generation marks s as already in the set being built; one generation per step.
  const seen = new Uint32Array(count);
  let generation = 0;
  const stack: number[] = [];

  /** Adds the ε-closure of `from` to `into` (consuming states and MATCH only). */
  const close = (from: number, into: number[]): void => {
    stack.push(from);
    while (stack.length > 0) {
      const s = stack.pop() as number;
      steps++;
      if (seen[s] === generation) continue;
      seen[s] = generation;
      const st = states[s] as State;
      if (st.kind === EPS) {
        for (let k = st.outs.length - 1; k >= 0; k--) stack.push(st.outs[k] as number);
      } else {
        into.push(s);
      }
    }
  };

  return (name) => {
    let current: number[] = [];
    generation++;
    close(start, current);
    for (const ch of name) {
      const cp = ch.codePointAt(0) as number;
      const next: number[] = [];
      generation++;
      for (const s of current) {
        steps++;
        const st = states[s] as State;
        const ok =
          st.kind === ANY || (st.kind === NOT_SLASH && cp !== SLASH) || (st.kind === LIT && st.cp === cp);
        if (ok) close(st.outs[0] as number, next);
      }
      if (next.length === 0) return false;
      current = next;
    }
    return current.some((s) => (states[s] as State).kind === MATCH);
  };
}
