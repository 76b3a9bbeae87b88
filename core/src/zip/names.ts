/**
 * Entry name rules of SPEC §2, except the prefix rule (`payload/`, `meta/`, … is the capsule
 * layer's business): this module is about what any capsule ZIP entry name must be.
 */
import { fail } from "../errors.js";

/** SPEC §2: at most 1024 bytes of UTF-8. */
export const MAX_NAME_BYTES = 1024;

/** JSON quoting keeps control characters and other oddities readable in error messages. */
export const show = (name: string): string =>
  JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);

/** UTF-8 byte length of `s` as TextEncoder encodes it (a lone surrogate becomes U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * Throws QcapError "format" unless `name` follows SPEC §2 (NFC UTF-8 of at most 1024 bytes, `/` as
 * the only separator, no empty, `.` or `..` component, no backslash or control character, no
 * leading or trailing `/`). The prefix rule is not checked here. One pass over the name.
 */
export function validateEntryName(name: string): void {
  const len = name.length;
  if (len === 0) fail("format", "empty entry name");
  if (name.charCodeAt(0) === 0x2f) fail("format", `entry name ${show(name)} is an absolute path`);
  if (name.charCodeAt(len - 1) === 0x2f) fail("format", `entry name ${show(name)} ends with "/"`);
  let bytes = 0;
  let ascii = true;
  let start = 0; // of the current path component
  for (let i = 0; i <= len; i++) {
    const c = i < len ? name.charCodeAt(i) : 0x2f;
    if (c === 0x2f) {
      const n = i - start;
      if (n === 0) fail("format", `entry name ${show(name)} has an empty path component`);
      if (n <= 2 && name.charCodeAt(start) === 0x2e && (n === 1 || name.charCodeAt(start + 1) === 0x2e))
        fail("format", `entry name ${show(name)} has a "${n === 1 ? "." : ".."}" path component`);
      start = i + 1;
      bytes += 1;
    } else if (c < 0x20 || c === 0x7f) {
      fail("format", `entry name ${show(name)} contains a control character`);
    } else if (c === 0x5c) {
      fail("format", `entry name ${show(name)} contains a backslash`);
    } else if (c < 0x80) {
      bytes += 1;
    } else {
      ascii = false;
      if (c < 0x800) bytes += 2;
      else if ((c & 0xfc00) === 0xd800 && i + 1 < len && (name.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        bytes += 4;
        i++;
      } else if ((c & 0xf800) === 0xd800) fail("format", `entry name ${show(name)} is not valid Unicode`);
      else bytes += 3;
    }
  }
  if (bytes - 1 > MAX_NAME_BYTES)
    fail("format", `entry name ${show(name)} is longer than ${MAX_NAME_BYTES} bytes`);
  if (!ascii && name.normalize("NFC") !== name)
    fail("format", `entry name ${show(name)} is not in Unicode NFC`);
}

/** The key two names collide on: NFC, then lower case. */
const ASCII = /^[\x20-\x7e]*$/;
export const foldName = (name: string): string =>
  (ASCII.test(name) ? name : name.normalize("NFC")).toLowerCase();

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
    const ascii = ASCII.test(name);
    if (!ascii && name.normalize("NFC") !== name)
      fail("format", `entry name ${show(name)} is not in Unicode NFC`);
    const folded = name.toLowerCase();
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
