/**
 * Byte builders for the records of SPEC §7.2 and the layout of a whole capsule ZIP.
 *
 * Everything here is pure and deterministic: given the entries (names, sizes, CRCs, modes in file
 * order) there is exactly one byte representation of everything outside the stored data, and the
 * reader and the capsule layer compare what they read with these bytes.
 *
 * Sizes and offsets are JS numbers, exact up to 2^53 - 1; u64 fields are written as two u32 halves.
 */
import { utf8Length } from "./names.js";

const encoder = new TextEncoder();

export interface ZipEntrySpec {
  name: string;
  size: number;
  crc32: number;
  mode: number;
}

export interface PlacedEntry extends ZipEntrySpec {
  /** Offset of the local header. */
  offset: number;
  /** Offset of the first stored byte (`offset + 50 + N`). */
  dataOffset: number;
}

export interface Layout {
  entries: PlacedEntry[];
  centralDirectoryOffset: number;
  centralDirectory: Uint8Array;
  /** The three end records (98 bytes). */
  end: Uint8Array;
  totalSize: number;
}

/** Fixed part of a local header: 30 bytes + the 20-byte ZIP64 extra field. */
export const LOCAL_HEADER_FIXED = 50;
/** Fixed part of a central directory header: 46 bytes + the 28-byte ZIP64 extra field. */
export const CENTRAL_HEADER_FIXED = 74;
export const DATA_DESCRIPTOR_SIZE = 24;
export const ZIP64_END_SIZE = 56;
export const ZIP64_LOCATOR_SIZE = 20;
export const END_SIZE = 22;
/** ZIP64 end record + ZIP64 locator + end record. */
export const END_RECORDS_SIZE = ZIP64_END_SIZE + ZIP64_LOCATOR_SIZE + END_SIZE;

export const SIG_LOCAL = 0x04034b50;
export const SIG_DESCRIPTOR = 0x08074b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_ZIP64_END = 0x06064b50;
export const SIG_ZIP64_LOCATOR = 0x07064b50;
export const SIG_END = 0x06054b50;

export const VERSION_MADE_BY = 0x032d; // Unix, 4.5
export const VERSION_NEEDED = 45;
export const FLAGS = 0x0808; // bit 3: data descriptor, bit 11: UTF-8 names
export const DOS_TIME = 0;
export const DOS_DATE = 0x0021; // 1980-01-01
export const ZIP64_EXTRA_ID = 0x0001;
export const LOCAL_EXTRA_LENGTH = 20;
export const CENTRAL_EXTRA_LENGTH = 28;

/** Entry modes allowed by SPEC §4: 0644 and 0755. */
export const MODES: readonly number[] = [0o644, 0o755];

const TWO_32 = 0x1_0000_0000;

/** External attributes of a central directory header: `(0o100000 | mode) << 16`, unsigned. */
export const externalAttributes = (mode: number): number => (0o100000 | mode) * 0x10000;

function checkU53(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`${what} must be an integer in [0, 2^53): ${v}`);
}

function checkCrc(crc32: number): void {
  if (!Number.isInteger(crc32) || crc32 < 0 || crc32 >= TWO_32)
    throw new RangeError(`entry crc32 must be an unsigned 32-bit integer: ${crc32}`);
}

function checkSpec(e: ZipEntrySpec): void {
  checkU53("entry size", e.size);
  checkCrc(e.crc32);
  if (!MODES.includes(e.mode))
    throw new RangeError(`entry mode must be 0644 or 0755: 0o${e.mode.toString(8)}`);
}

/** Writes `v` (an integer in [0, 2^53)) as u64le. */
export function setU64(view: DataView, pos: number, v: number): void {
  view.setUint32(pos, v >>> 0, true);
  view.setUint32(pos + 4, Math.floor(v / TWO_32), true);
}

/** Writes `name` as UTF-8 at `pos`; `length` is its `utf8Length`. */
function putName(bytes: Uint8Array, pos: number, name: string, length: number): void {
  const { read, written } = encoder.encodeInto(name, bytes.subarray(pos, pos + length));
  if (read !== name.length || written !== length) throw new RangeError("entry name: buffer too small");
}

/**
 * Writes the local header of `name` at `pos` of `bytes` (`view` over the same buffer, from byte 0)
 * and returns the position after it. `nameLength` is `utf8Length(name)`.
 */
export function localHeaderInto(
  bytes: Uint8Array,
  view: DataView,
  pos: number,
  name: string,
  nameLength: number,
): number {
  view.setUint32(pos, SIG_LOCAL, true);
  view.setUint16(pos + 4, VERSION_NEEDED, true);
  view.setUint16(pos + 6, FLAGS, true);
  view.setUint16(pos + 8, 0, true); // method: stored
  view.setUint16(pos + 10, DOS_TIME, true);
  view.setUint16(pos + 12, DOS_DATE, true);
  view.setUint32(pos + 14, 0, true); // crc-32: in the data descriptor
  view.setUint32(pos + 18, 0xffffffff, true);
  view.setUint32(pos + 22, 0xffffffff, true);
  view.setUint16(pos + 26, nameLength, true);
  view.setUint16(pos + 28, LOCAL_EXTRA_LENGTH, true);
  putName(bytes, pos + 30, name, nameLength);
  const x = pos + 30 + nameLength;
  view.setUint16(x, ZIP64_EXTRA_ID, true);
  view.setUint16(x + 2, 16, true);
  setU64(view, x + 4, 0); // size
  setU64(view, x + 12, 0); // compressed size
  return x + LOCAL_EXTRA_LENGTH;
}

/** Writes a data descriptor at `pos` of `view` and returns the position after it. */
export function dataDescriptorInto(view: DataView, pos: number, crc32: number, size: number): number {
  checkCrc(crc32);
  checkU53("entry size", size);
  view.setUint32(pos, SIG_DESCRIPTOR, true);
  view.setUint32(pos + 4, crc32, true);
  setU64(view, pos + 8, size);
  setU64(view, pos + 16, size);
  return pos + DATA_DESCRIPTOR_SIZE;
}

function centralInto(
  bytes: Uint8Array,
  view: DataView,
  pos: number,
  e: ZipEntrySpec,
  nameLength: number,
  localOffset: number,
): number {
  view.setUint32(pos, SIG_CENTRAL, true);
  view.setUint16(pos + 4, VERSION_MADE_BY, true);
  view.setUint16(pos + 6, VERSION_NEEDED, true);
  view.setUint16(pos + 8, FLAGS, true);
  view.setUint16(pos + 10, 0, true); // method: stored
  view.setUint16(pos + 12, DOS_TIME, true);
  view.setUint16(pos + 14, DOS_DATE, true);
  view.setUint32(pos + 16, e.crc32, true);
  view.setUint32(pos + 20, 0xffffffff, true);
  view.setUint32(pos + 24, 0xffffffff, true);
  view.setUint16(pos + 28, nameLength, true);
  view.setUint16(pos + 30, CENTRAL_EXTRA_LENGTH, true);
  view.setUint16(pos + 32, 0, true); // comment length
  view.setUint16(pos + 34, 0, true); // disk number start
  view.setUint16(pos + 36, 0, true); // internal attributes
  view.setUint32(pos + 38, externalAttributes(e.mode), true);
  view.setUint32(pos + 42, 0xffffffff, true);
  putName(bytes, pos + 46, e.name, nameLength);
  const x = pos + 46 + nameLength;
  view.setUint16(x, ZIP64_EXTRA_ID, true);
  view.setUint16(x + 2, 24, true);
  setU64(view, x + 4, e.size);
  setU64(view, x + 12, e.size);
  setU64(view, x + 20, localOffset);
  return x + CENTRAL_EXTRA_LENGTH;
}

const newBuffer = (n: number): [Uint8Array, DataView] => {
  const b = new Uint8Array(n);
  return [b, new DataView(b.buffer)];
};

/** Local file header of `name` (`50 + N` bytes). */
export function localHeader(name: string): Uint8Array {
  const n = utf8Length(name);
  const [b, v] = newBuffer(LOCAL_HEADER_FIXED + n);
  localHeaderInto(b, v, 0, name, n);
  return b;
}

/** Data descriptor (24 bytes). */
export function dataDescriptor(crc32: number, size: number): Uint8Array {
  const [b, v] = newBuffer(DATA_DESCRIPTOR_SIZE);
  dataDescriptorInto(v, 0, crc32, size);
  return b;
}

/** Central directory header of one entry (`74 + N` bytes). */
export function centralHeader(e: ZipEntrySpec, localOffset: number): Uint8Array {
  checkSpec(e);
  checkU53("local header offset", localOffset);
  const n = utf8Length(e.name);
  const [b, v] = newBuffer(CENTRAL_HEADER_FIXED + n);
  centralInto(b, v, 0, e, n, localOffset);
  return b;
}

/** The whole central directory, in one buffer: the headers of `entries` in order. */
export function centralDirectory(entries: readonly (ZipEntrySpec & { offset: number })[]): Uint8Array {
  const lengths = new Array<number>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as ZipEntrySpec & { offset: number };
    checkSpec(e);
    checkU53("local header offset", e.offset);
    lengths[i] = utf8Length(e.name);
  }
  return buildCentralDirectory(entries, lengths);
}

/** `entries` checked, with the UTF-8 lengths of their names. */
function buildCentralDirectory(
  entries: readonly (ZipEntrySpec & { offset: number })[],
  nameLengths: readonly number[],
): Uint8Array {
  let total = 0;
  for (const n of nameLengths) total += CENTRAL_HEADER_FIXED + n;
  const [b, v] = newBuffer(total);
  let pos = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as ZipEntrySpec & { offset: number };
    pos = centralInto(b, v, pos, e, nameLengths[i] as number, e.offset);
  }
  return b;
}

/** ZIP64 end of central directory record, ZIP64 locator and end record (98 bytes). */
export function endRecords(count: number, cdOffset: number, cdSize: number): Uint8Array {
  checkU53("entry count", count);
  checkU53("central directory offset", cdOffset);
  checkU53("central directory size", cdSize);
  checkU53("ZIP64 end record offset", cdOffset + cdSize);
  const [b, v] = newBuffer(END_RECORDS_SIZE);
  v.setUint32(0, SIG_ZIP64_END, true);
  setU64(v, 4, ZIP64_END_SIZE - 12);
  v.setUint16(12, VERSION_MADE_BY, true);
  v.setUint16(14, VERSION_NEEDED, true);
  v.setUint32(16, 0, true); // this disk
  v.setUint32(20, 0, true); // disk of the central directory
  setU64(v, 24, count); // entries on this disk
  setU64(v, 32, count); // entries in total
  setU64(v, 40, cdSize);
  setU64(v, 48, cdOffset);
  const l = ZIP64_END_SIZE;
  v.setUint32(l, SIG_ZIP64_LOCATOR, true);
  v.setUint32(l + 4, 0, true); // disk of the ZIP64 end record
  setU64(v, l + 8, cdOffset + cdSize);
  v.setUint32(l + 16, 1, true); // total disks
  const e = l + ZIP64_LOCATOR_SIZE;
  v.setUint32(e, SIG_END, true);
  v.setUint16(e + 4, 0, true);
  v.setUint16(e + 6, 0, true);
  v.setUint16(e + 8, 0xffff, true);
  v.setUint16(e + 10, 0xffff, true);
  v.setUint32(e + 12, 0xffffffff, true);
  v.setUint32(e + 16, 0xffffffff, true);
  v.setUint16(e + 20, 0, true); // comment length
  return b;
}

/**
 * The exact layout of a ZIP holding `entries` in this order: where each entry goes, the central
 * directory and end records byte for byte, and the total file size. Linear in the number of entries.
 */
export function computeLayout(entries: ZipEntrySpec[]): Layout {
  const placed = new Array<PlacedEntry>(entries.length);
  const lengths = new Array<number>(entries.length);
  let offset = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as ZipEntrySpec;
    checkSpec(e);
    const nameLength = utf8Length(e.name);
    lengths[i] = nameLength;
    const dataOffset = offset + LOCAL_HEADER_FIXED + nameLength;
    placed[i] = { name: e.name, size: e.size, crc32: e.crc32, mode: e.mode, offset, dataOffset };
    offset = dataOffset + e.size + DATA_DESCRIPTOR_SIZE;
    checkU53("archive size", offset);
  }
  const cd = buildCentralDirectory(placed, lengths);
  const totalSize = offset + cd.length + END_RECORDS_SIZE;
  checkU53("archive size", totalSize);
  return {
    entries: placed,
    centralDirectoryOffset: offset,
    centralDirectory: cd,
    end: endRecords(entries.length, offset, cd.length),
    totalSize,
  };
}
