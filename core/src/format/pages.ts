/**
 * Index pages (design §4): the bytes of a page and its records, encoded and decoded with strict
 * bounds. A page is `u8(level) || u16le(count) || records`, nothing after the last record.
 */
import { fail } from "../errors.js";
import { MAX_NAME_BYTES, validateEntryName } from "../zip/names.js";
import { compareBytes, MODE_EXEC, MODE_FILE } from "./entries.js";

/** Records per page at most. */
export const PAGE_FANOUT = 1024;
/** Levels of the index at most. */
export const MAX_LEVELS = 4;
/** Content entries at most (entries < 2^32). */
export const MAX_ENTRIES = 0xffff_ffff;
const MAX_SEALED_NAME = MAX_NAME_BYTES + 16;
export const MAX_LEAF_RECORD = 2 + MAX_NAME_BYTES + 8 + 2 + 4 + 32 + 8 + 4 + 2 + MAX_SEALED_NAME;
export const MAX_INTERIOR_RECORD = 2 + MAX_NAME_BYTES + 8 + 4 + 32;
/** Largest page a reader accepts, checked before it is fetched. */
export const MAX_PAGE_BYTES = 5 + PAGE_FANOUT * MAX_LEAF_RECORD;
export const PAGE_HEADER = 3;

export const ROOT_PAGE_NAME = "pages/root";

/** ZIP name of page `index` (1-based) of `level`, unless it is the root. */
export const pageName = (level: number, index: number): string =>
  `pages/${level}/${String(index).padStart(8, "0")}`;

/** One content entry, as a level-0 record holds it. */
export interface LeafRecord {
  name: string;
  size: number;
  mode: number;
  crc32: number;
  digest: Uint8Array;
  offset: number;
  /** CRC-32 of the entry's `index/<name>` bytes; 0 when it has none. */
  treeCrc32: number;
  sealedName: Uint8Array;
}

/** One child page, as a record of level 1 or above holds it. */
export interface InteriorRecord {
  first: string;
  offset: number;
  length: number;
  hash: Uint8Array;
}

export type Page =
  | { level: 0; records: LeafRecord[]; names: Uint8Array[] }
  | { level: number; records: InteriorRecord[]; names: Uint8Array[] };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const TWO_32 = 0x1_0000_0000;

function setU64(v: DataView, pos: number, x: number): void {
  v.setUint32(pos, x >>> 0, true);
  v.setUint32(pos + 4, Math.floor(x / TWO_32), true);
}

/** Encodes one leaf record. */
export function encodeLeaf(r: LeafRecord): Uint8Array {
  const name = encoder.encode(r.name);
  const out = new Uint8Array(2 + name.length + 8 + 2 + 4 + 32 + 8 + 4 + 2 + r.sealedName.length);
  const v = new DataView(out.buffer);
  let p = 0;
  v.setUint16(p, name.length, true);
  out.set(name, p + 2);
  p += 2 + name.length;
  setU64(v, p, r.size);
  v.setUint16(p + 8, r.mode, true);
  v.setUint32(p + 10, r.crc32, true);
  out.set(r.digest, p + 14);
  setU64(v, p + 46, r.offset);
  v.setUint32(p + 54, r.treeCrc32, true);
  v.setUint16(p + 58, r.sealedName.length, true);
  out.set(r.sealedName, p + 60);
  return out;
}

/** Encodes one interior record. */
export function encodeInterior(r: InteriorRecord): Uint8Array {
  const first = encoder.encode(r.first);
  const out = new Uint8Array(2 + first.length + 8 + 4 + 32);
  const v = new DataView(out.buffer);
  v.setUint16(0, first.length, true);
  out.set(first, 2);
  const p = 2 + first.length;
  setU64(v, p, r.offset);
  v.setUint32(p + 8, r.length, true);
  out.set(r.hash, p + 12);
  return out;
}

/** A page from its level and its encoded records. */
export function encodePage(level: number, records: readonly Uint8Array[]): Uint8Array {
  let total = PAGE_HEADER;
  for (const r of records) total += r.length;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint8(0, level);
  v.setUint16(1, records.length, true);
  let p = PAGE_HEADER;
  for (const r of records) {
    out.set(r, p);
    p += r.length;
  }
  return out;
}

const NO_BYTES = new Uint8Array(0);

/** Reads the bytes of a page strictly; `what` names it in messages. */
class Cursor {
  pos = 0;
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): void {
    if (this.pos + n > this.bytes.length) fail("format", `${this.what}: truncated record`);
  }
  u16(): number {
    this.need(2);
    const x = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return x;
  }
  u32(): number {
    this.need(4);
    const x = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return x;
  }
  u64(): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    if (hi >= 0x20_0000) fail("format", `${this.what}: a 64-bit field is too large`);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }
  take(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  name(): { name: string; bytes: Uint8Array } {
    const n = this.u16();
    if (n === 0 || n > MAX_NAME_BYTES) fail("format", `${this.what}: name length ${n} out of bounds`);
    const bytes = this.take(n);
    let name: string;
    try {
      name = decoder.decode(bytes);
    } catch {
      return fail("format", `${this.what}: a name is not valid UTF-8`);
    }
    validateEntryName(name);
    return { name, bytes };
  }
}

/**
 * Decodes a page (of `expectLevel`, when given): its level, count and records, names strictly increasing by UTF-8 bytes, nothing
 * after the last record. Leaf records must name content entries with modes 420 or 493.
 */
export function decodePage(bytes: Uint8Array, what: string, expectLevel?: number): Page {
  if (bytes.length > MAX_PAGE_BYTES) fail("format", `${what}: ${bytes.length} bytes is too large`);
  const c = new Cursor(bytes, what);
  c.need(PAGE_HEADER);
  const level = bytes[0] as number;
  if (expectLevel !== undefined && level !== expectLevel)
    fail("format", `${what}: level ${level}, expected ${expectLevel}`);
  c.pos = 1;
  const count = c.u16();
  if (level >= MAX_LEVELS) fail("format", `${what}: level ${level} out of bounds`);
  if (count > PAGE_FANOUT) fail("format", `${what}: ${count} records is too many`);
  const names: Uint8Array[] = [];
  const leaves: LeafRecord[] = [];
  const interiors: InteriorRecord[] = [];
  for (let i = 0; i < count; i++) {
    const { name, bytes: nb } = c.name();
    const prev = names[names.length - 1];
    if (prev && compareBytes(prev, nb) >= 0)
      fail("format", `${what}: names are not strictly increasing at ${JSON.stringify(name)}`);
    names.push(nb);
    if (level === 0) {
      if (!name.startsWith("payload/") && !name.startsWith("meta/"))
        fail("format", `${what}: ${JSON.stringify(name)} is not under payload/ or meta/`);
      const size = c.u64();
      const mode = c.u16();
      if (mode !== MODE_FILE && mode !== MODE_EXEC)
        fail("format", `${what}: mode of ${JSON.stringify(name)} must be 420 or 493`);
      const crc32 = c.u32();
      // Views into the page, not copies: a copy per entry is an ArrayBuffer per entry to collect.
      const digest = c.take(32);
      const offset = c.u64();
      const treeCrc32 = c.u32();
      const sealedLength = c.u16();
      if (sealedLength > MAX_SEALED_NAME) fail("format", `${what}: sealed name too long`);
      const sealedName = sealedLength === 0 ? NO_BYTES : c.take(sealedLength);
      leaves.push({ name, size, mode, crc32, digest, offset, treeCrc32, sealedName });
    } else {
      const offset = c.u64();
      const length = c.u32();
      if (length > MAX_PAGE_BYTES) fail("format", `${what}: child page length ${length} out of bounds`);
      const hash = c.take(32);
      interiors.push({ first: name, offset, length, hash });
    }
  }
  if (c.pos !== bytes.length) fail("format", `${what}: ${bytes.length - c.pos} bytes after the last record`);
  return level === 0 ? { level: 0, records: leaves, names } : { level, records: interiors, names };
}

/** Pages per level of the index of `n` entries, from level 0 up to the root's level (one page). */
export function treeShape(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ENTRIES) fail("format", `entry count ${n} out of bounds`);
  const shape = [Math.max(1, Math.ceil(n / PAGE_FANOUT))];
  while ((shape[shape.length - 1] as number) > 1)
    shape.push(Math.ceil((shape[shape.length - 1] as number) / PAGE_FANOUT));
  return shape;
}
