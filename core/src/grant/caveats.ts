/**
 * Typed first-party caveats of qcap tokens (SPEC §11.2) and their combined meaning. Parsing is exact:
 * anything outside the grammar, including an unknown caveat, fails closed.
 */
import { fail } from "../errors.js";
import { compileGlob } from "./glob.js";
import { formatRfc3339, parseRfc3339 } from "./time.js";

export type Allow = "read" | "inspect";

export type Caveat =
  | { kind: "capsule"; root: string }
  | { kind: "expires"; time: number }
  | { kind: "aud"; kid: string }
  | { kind: "path"; glob: string }
  | { kind: "purpose"; word: string }
  | { kind: "allow"; allow: Allow };

const WORD = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** A caveat's text, for messages: printable and at most 80 characters. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/** Parses one caveat predicate. An unknown or malformed caveat is an "unauthorized" error. */
export function parseCaveat(text: string): Caveat {
  const [key, value] = splitCaveat(text);
  switch (key) {
    case "capsule":
      if (/^= [0-9a-f]{64}$/.test(value)) return { kind: "capsule", root: value.slice(2) };
      break;
    case "aud":
      if (/^= [0-9a-f]{16}$/.test(value)) return { kind: "aud", kid: value.slice(2) };
      break;
    case "allow":
      if (value === "= read" || value === "= inspect")
        return { kind: "allow", allow: value.slice(2) as Allow };
      break;
    case "purpose":
      if (value.startsWith("= ") && WORD.test(value.slice(2)))
        return { kind: "purpose", word: value.slice(2) };
      break;
    case "expires": {
      const time = value.startsWith("< ") ? parseRfc3339(value.slice(2)) : undefined;
      if (time !== undefined) return { kind: "expires", time };
      break;
    }
    case "path":
      try {
        compileGlob(value);
      } catch (e) {
        return fail("unauthorized", `malformed caveat ${quote(text)}: ${(e as Error).message}`);
      }
      return { kind: "path", glob: value };
    default:
      return fail(
        "unauthorized",
        `unknown caveat ${quote(text)}: refusing the grant (an unknown caveat is never ignored)`,
      );
  }
  return fail("unauthorized", `malformed caveat ${quote(text)}: refusing the grant`);
}

/** `key rest` split at the first space; `rest` is "" when there is none. */
function splitCaveat(text: string): [string, string] {
  const sp = text.indexOf(" ");
  return sp < 0 ? [text, ""] : [text.slice(0, sp), text.slice(sp + 1)];
}

/** The exact text of a caveat. */
export function formatCaveat(c: Caveat): string {
  switch (c.kind) {
    case "capsule":
      return `capsule = ${c.root}`;
    case "aud":
      return `aud = ${c.kid}`;
    case "allow":
      return `allow = ${c.allow}`;
    case "purpose":
      if (!WORD.test(c.word)) fail("usage", "a purpose is one word: a-z, 0-9, '.', '_', '-' (at most 64)");
      return `purpose = ${c.word}`;
    case "expires":
      return `expires < ${formatRfc3339(c.time)}`;
    case "path":
      compileGlob(c.glob);
      return `path ${c.glob}`;
  }
}

/** What a list of caveats allows, all of them holding at once (SPEC §11.3). */
export interface Effective {
  /** The capsule root every `capsule` caveat names; null if there is none (never valid in a grant). */
  capsule: string | null;
  /** The earliest `expires` time (ms since the epoch), or null for none. */
  expires: number | null;
  /** The audience: the key id of the last `aud` caveat, or null for none. */
  audience: string | null;
  /** Every `aud` caveat in order: the first is the issuer's, each later one a hand-over. */
  audiences: string[];
  /** Every `path` glob: an entry is allowed when its real name matches all of them. */
  paths: string[];
  /** The one purpose all `purpose` caveats name, or null for none. */
  purpose: string | null;
  /** The narrowest `allow` (`inspect` is narrower than `read`), or null for none. */
  allow: Allow | null;
}

/**
 * Combines caveats: earliest expiry, intersection of paths, narrowest allow. Caveats that can never
 * hold together (two capsules, two purposes) are an "unauthorized" error.
 */
export function effective(caveats: readonly Caveat[]): Effective {
  const out: Effective = {
    capsule: null,
    expires: null,
    audience: null,
    audiences: [],
    paths: [],
    purpose: null,
    allow: null,
  };
  for (const c of caveats) {
    switch (c.kind) {
      case "capsule":
        if (out.capsule !== null && out.capsule !== c.root) {
          fail("unauthorized", "the grant names two different capsules: it can never hold");
        }
        out.capsule = c.root;
        break;
      case "expires":
        out.expires = out.expires === null ? c.time : Math.min(out.expires, c.time);
        break;
      case "aud":
        out.audiences.push(c.kid);
        out.audience = c.kid;
        break;
      case "path":
        out.paths.push(c.glob);
        break;
      case "purpose":
        if (out.purpose !== null && out.purpose !== c.word) {
          fail("unauthorized", "the grant names two different purposes: it can never hold");
        }
        out.purpose = c.word;
        break;
      case "allow":
        out.allow = out.allow === "inspect" || c.allow === "inspect" ? "inspect" : "read";
        break;
    }
  }
  return out;
}

/** A matcher of real entry names that every glob of `paths` matches (all names when empty). */
export function pathMatcher(paths: readonly string[]): (name: string) => boolean {
  const ms = paths.map(compileGlob);
  return (name) => ms.every((m) => m(name));
}
