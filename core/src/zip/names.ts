/**
 * Entry name rules of SPEC §2, except the prefix rule (`payload/`, `meta/`, … is the capsule
 * layer's business): this module is about what any capsule ZIP entry name must be.
 */
import { fail } from "../errors.js";

/** SPEC §2: at most 1024 bytes of UTF-8. */
export const MAX_NAME_BYTES = 1024;

const encoder = new TextEncoder();

/** A lone UTF-16 surrogate cannot be encoded as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
const CONTROL = /[\u0000-\u001f\u007f]/;

/** JSON quoting keeps control characters and other oddities readable in error messages. */
const show = (name: string): string => JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);

/** UTF-8 byte length of a well-formed string, without allocating. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

/**
 * Throws QcapError "format" unless `name` follows SPEC §2 (NFC UTF-8 of at most 1024 bytes, `/` as
 * the only separator, no empty, `.` or `..` component, no backslash or control character, no
 * leading or trailing `/`). The prefix rule is not checked here.
 */
export function validateEntryName(name: string): void {
  if (name.length === 0) fail("format", "empty entry name");
  if (LONE_SURROGATE.test(name)) fail("format", `entry name ${show(name)} is not valid Unicode`);
  if (utf8Length(name) > MAX_NAME_BYTES)
    fail("format", `entry name ${show(name)} is longer than ${MAX_NAME_BYTES} bytes`);
  if (CONTROL.test(name)) fail("format", `entry name ${show(name)} contains a control character`);
  if (name.includes("\\")) fail("format", `entry name ${show(name)} contains a backslash`);
  if (name.startsWith("/")) fail("format", `entry name ${show(name)} is an absolute path`);
  if (name.endsWith("/")) fail("format", `entry name ${show(name)} ends with "/"`);
  for (const part of name.split("/")) {
    if (part === "") fail("format", `entry name ${show(name)} has an empty path component`);
    if (part === "." || part === "..")
      fail("format", `entry name ${show(name)} has a "${part}" path component`);
  }
  if (name.normalize("NFC") !== name) fail("format", `entry name ${show(name)} is not in Unicode NFC`);
}

/** The key two names collide on: NFC, then lower case. */
export const foldName = (name: string): string => name.normalize("NFC").toLowerCase();

/**
 * Incremental form of `checkNameSet`: `add` throws QcapError "format" when a name repeats, collides
 * with an earlier one after case folding, or is a file where another name needs a directory (or the
 * reverse, e.g. `payload/a` and `payload/a/b`). Linear in the total length of the names.
 */
export class NameSet {
  /** folded file name → the name as given */
  readonly #files = new Map<string, string>();
  /** folded directory path (no trailing slash) → one name under it */
  readonly #dirs = new Map<string, string>();

  get size(): number {
    return this.#files.size;
  }

  add(name: string): void {
    const folded = foldName(name);
    const earlier = this.#files.get(folded);
    if (earlier !== undefined) {
      if (earlier === name) fail("format", `duplicate entry name ${show(name)}`);
      fail("format", `entry names ${show(earlier)} and ${show(name)} collide after case folding`);
    }
    const under = this.#dirs.get(folded);
    if (under !== undefined)
      fail("format", `entry name ${show(name)} is both a file and a directory (${show(under)})`);
    // Every directory on the path must not be a file. Stop at the first directory already known:
    // its own ancestors were checked and registered when it was.
    for (let i = folded.lastIndexOf("/"); i > 0; i = folded.lastIndexOf("/", i - 1)) {
      const dir = folded.slice(0, i);
      const file = this.#files.get(dir);
      if (file !== undefined)
        fail("format", `entry name ${show(file)} is both a file and a directory (${show(name)})`);
      if (this.#dirs.has(dir)) break;
      this.#dirs.set(dir, name);
    }
    this.#files.set(folded, name);
  }
}

/** Throws QcapError "format" on duplicates, case-fold collisions and file/directory clashes. */
export function checkNameSet(names: Iterable<string>): void {
  const set = new NameSet();
  for (const name of names) set.add(name);
}

/** UTF-8 bytes of a name. */
export const encodeName = (name: string): Uint8Array => encoder.encode(name);
