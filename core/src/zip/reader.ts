/**
 * Strict reader of the ZIP64 container of SPEC §7 (steps 1 and 2 of §7.3): end records, central
 * directory, and the framing (local header, data descriptor) of single entries. Anything that is
 * not exactly what §7.2 prescribes is a QcapError "format".
 */
import { fail } from "../errors.js";
import { crc32 } from "../hash/crc32.js";
import type { RangeSource } from "../io/source.js";
import {
  CENTRAL_EXTRA_LENGTH,
  CENTRAL_HEADER_FIXED,
  DATA_DESCRIPTOR_SIZE,
  DOS_DATE,
  DOS_TIME,
  dataDescriptor,
  END_RECORDS_SIZE,
  externalAttributes,
  FLAGS,
  LOCAL_HEADER_FIXED,
  localHeader,
  MODES,
  SIG_CENTRAL,
  SIG_END,
  SIG_ZIP64_END,
  SIG_ZIP64_LOCATOR,
  VERSION_MADE_BY,
  VERSION_NEEDED,
  ZIP64_END_SIZE,
  ZIP64_EXTRA_ID,
  ZIP64_LOCATOR_SIZE,
} from "./layout.js";
import { MAX_NAME_BYTES, NameSet, utf8Length, validateEntryName } from "./names.js";

export interface CentralEntry {
  name: string;
  size: number;
  crc32: number;
  mode: number;
  /** Offset of the local header. */
  offset: number;
}

export interface CentralDirectory {
  entries: CentralEntry[];
  /** Offset of the central directory (= the end of the last data descriptor). */
  offset: number;
  /** The central directory, byte for byte. */
  bytes: Uint8Array;
  /** The three end records (the file's last 98 bytes). */
  end: Uint8Array;
}

export interface ReadLimits {
  /** Default 10,000,000. */
  maxEntries?: number;
  /** Default 1 GiB. */
  maxDirectoryBytes?: number;
}

export const DEFAULT_MAX_ENTRIES = 10_000_000;
export const DEFAULT_MAX_DIRECTORY_BYTES = 1024 * 1024 * 1024;

const TRUNCATED = "truncated or not a capsule";
const TWO_32 = 0x1_0000_0000;
const hex = (v: number, digits: number): string => `0x${v.toString(16).padStart(digits, "0")}`;
const nameDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** u64le as a number; values of 2^53 or more are refused. */
function u64(v: DataView, pos: number, what: string): number {
  const lo = v.getUint32(pos, true);
  const hi = v.getUint32(pos + 4, true);
  if (hi >= 0x20_0000) fail("format", `${what} is too large`);
  return hi * TWO_32 + lo;
}

/** Reads, turning a range beyond the file into the "truncated" error. */
async function readAt(src: RangeSource, offset: number, length: number): Promise<Uint8Array> {
  if (offset < 0 || offset + length > src.size) fail("format", TRUNCATED);
  const b = await src.read(offset, length);
  if (b.length !== length) fail("format", TRUNCATED);
  return b;
}

/** The fields of a ZIP64 end record, once the three end records are checked exactly. */
export interface EndRecords {
  count: number;
  cdSize: number;
  cdOffset: number;
}

/**
 * SPEC §7.3 step 1: checks the three end records (`end`, the last 98 bytes of a file of `size`
 * bytes) field by field, and that the central directory they point at ends where they start.
 */
export function checkEndRecords(end: Uint8Array, size: number, limits: ReadLimits = {}): EndRecords {
  const maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxDirectoryBytes = limits.maxDirectoryBytes ?? DEFAULT_MAX_DIRECTORY_BYTES;
  const ev = new DataView(end.buffer, end.byteOffset, end.byteLength);

  // End record, at the very end: no comment, every field at its ZIP64 "see the other record" value.
  const e = ZIP64_END_SIZE + ZIP64_LOCATOR_SIZE;
  if (ev.getUint32(e, true) !== SIG_END) fail("format", `${TRUNCATED}: no end record at the end of the file`);
  const endFields: [number, number, number][] = [
    [e + 4, 0, 2],
    [e + 6, 0, 2],
    [e + 8, 0xffff, 2],
    [e + 10, 0xffff, 2],
    [e + 12, 0xffffffff, 4],
    [e + 16, 0xffffffff, 4],
    [e + 20, 0, 2],
  ];
  for (const [pos, want, width] of endFields) {
    const got = width === 2 ? ev.getUint16(pos, true) : ev.getUint32(pos, true);
    if (got !== want)
      fail("format", `end record: unexpected value ${hex(got, width * 2)} at byte ${pos - e}`);
  }

  // ZIP64 locator, right before it, pointing right before itself.
  const l = ZIP64_END_SIZE;
  if (ev.getUint32(l, true) !== SIG_ZIP64_LOCATOR)
    fail("format", "no ZIP64 end of central directory locator");
  if (ev.getUint32(l + 4, true) !== 0) fail("format", "ZIP64 locator: unexpected disk number");
  const zip64At = size - END_RECORDS_SIZE;
  if (u64(ev, l + 8, "ZIP64 locator offset") !== zip64At)
    fail("format", "ZIP64 locator: the ZIP64 end record is not right before it");
  if (ev.getUint32(l + 16, true) !== 1) fail("format", "ZIP64 locator: unexpected number of disks");

  // ZIP64 end record.
  if (ev.getUint32(0, true) !== SIG_ZIP64_END) fail("format", "no ZIP64 end of central directory record");
  if (u64(ev, 4, "ZIP64 end record size") !== ZIP64_END_SIZE - 12)
    fail("format", "ZIP64 end record: unexpected size");
  if (ev.getUint16(12, true) !== VERSION_MADE_BY)
    fail("format", "ZIP64 end record: unexpected version made by");
  if (ev.getUint16(14, true) !== VERSION_NEEDED)
    fail("format", "ZIP64 end record: unexpected version needed");
  if (ev.getUint32(16, true) !== 0 || ev.getUint32(20, true) !== 0)
    fail("format", "ZIP64 end record: unexpected disk number");
  const count = u64(ev, 24, "entry count");
  if (u64(ev, 32, "entry count") !== count) fail("format", "ZIP64 end record: entry counts differ");
  const cdSize = u64(ev, 40, "central directory size");
  const cdOffset = u64(ev, 48, "central directory offset");
  if (count > maxEntries) fail("format", `too many entries: ${count} (limit ${maxEntries})`);
  if (cdSize > maxDirectoryBytes)
    fail("format", `central directory too large: ${cdSize} bytes (limit ${maxDirectoryBytes})`);
  if (cdOffset + cdSize !== zip64At) {
    fail(
      "format",
      cdOffset + cdSize > zip64At ? TRUNCATED : "bytes between the central directory and the end records",
    );
  }
  return { count, cdSize, cdOffset };
}

/**
 * SPEC §7.3 steps 1–2: reads and checks the end records and the whole central directory.
 * Checks every field of every header against §7.2, the names (§2 without the prefix rule,
 * duplicates, case-fold collisions), and the layout: the first local header at byte 0, each next
 * one right after the previous entry's data descriptor, the directory right after the last one and
 * the end records right after the directory, ending the file.
 */
export async function readCentralDirectory(
  src: RangeSource,
  limits: ReadLimits = {},
): Promise<CentralDirectory> {
  const size = src.size;
  if (size < END_RECORDS_SIZE) fail("format", TRUNCATED);
  const end = await readAt(src, size - END_RECORDS_SIZE, END_RECORDS_SIZE);
  const { count, cdSize, cdOffset } = checkEndRecords(end, size, limits);
  if (cdSize < count * (CENTRAL_HEADER_FIXED + 1))
    fail("format", "central directory too small for its entry count");

  const bytes = await readAt(src, cdOffset, cdSize);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries = new Array<CentralEntry>(count);
  const names = new NameSet();
  let pos = 0;
  let expectOffset = 0; // where the next local header must start
  for (let i = 0; i < count; i++) {
    const bad = (msg: string): never => fail("format", `central directory entry ${i}: ${msg}`);
    if (pos + CENTRAL_HEADER_FIXED > cdSize) bad("truncated");
    const field = (off: number, width: 2 | 4, want: number, what: string): void => {
      const got = width === 2 ? v.getUint16(pos + off, true) : v.getUint32(pos + off, true);
      if (got !== want) bad(`unexpected ${what} ${hex(got, width * 2)}`);
    };
    field(0, 4, SIG_CENTRAL, "signature");
    field(4, 2, VERSION_MADE_BY, "version made by");
    field(6, 2, VERSION_NEEDED, "version needed");
    field(8, 2, FLAGS, "flags");
    field(10, 2, 0, "compression method");
    field(12, 2, DOS_TIME, "time");
    field(14, 2, DOS_DATE, "date");
    const crc = v.getUint32(pos + 16, true);
    field(20, 4, 0xffffffff, "compressed size");
    field(24, 4, 0xffffffff, "size");
    const nameLength = v.getUint16(pos + 28, true);
    field(30, 2, CENTRAL_EXTRA_LENGTH, "extra field length");
    field(32, 2, 0, "comment length");
    field(34, 2, 0, "disk number");
    field(36, 2, 0, "internal attributes");
    const attributes = v.getUint32(pos + 38, true);
    const mode = Math.floor(attributes / 0x10000) & 0o7777;
    if (!MODES.includes(mode) || attributes !== externalAttributes(mode))
      bad(`unexpected external attributes ${hex(attributes, 8)}`);
    field(42, 4, 0xffffffff, "local header offset");
    if (nameLength === 0 || nameLength > MAX_NAME_BYTES) bad(`unexpected name length ${nameLength}`);
    if (pos + CENTRAL_HEADER_FIXED + nameLength > cdSize) bad("truncated");
    let name: string;
    try {
      name = nameDecoder.decode(bytes.subarray(pos + 46, pos + 46 + nameLength));
    } catch {
      return bad("name is not valid UTF-8");
    }
    const x = pos + 46 + nameLength;
    field(x - pos, 2, ZIP64_EXTRA_ID, "extra field");
    field(x + 2 - pos, 2, 24, "ZIP64 extra field length");
    const entrySize = u64(v, x + 4, `central directory entry ${i}: size`);
    if (u64(v, x + 12, `central directory entry ${i}: compressed size`) !== entrySize)
      bad("compressed size differs from size");
    const offset = u64(v, x + 20, `central directory entry ${i}: local header offset`);
    if (offset !== expectOffset) bad(`local header offset ${offset}, expected ${expectOffset}`);
    const entryEnd = offset + LOCAL_HEADER_FIXED + nameLength + entrySize + DATA_DESCRIPTOR_SIZE;
    if (entryEnd > cdOffset) {
      bad(
        entrySize > size
          ? `size ${entrySize} exceeds the file (${size} bytes)`
          : `entry data overlaps the central directory (size ${entrySize})`,
      );
    }
    try {
      validateEntryName(name);
      names.add(name);
    } catch (err) {
      return bad((err as Error).message);
    }
    entries[i] = { name, size: entrySize, crc32: crc, mode, offset };
    expectOffset = entryEnd;
    pos = x + CENTRAL_EXTRA_LENGTH;
  }
  if (pos !== cdSize)
    fail("format", `central directory: ${cdSize - pos} unexpected bytes after the last entry`);
  if (expectOffset !== cdOffset)
    fail("format", `central directory starts at ${cdOffset}, expected ${expectOffset}`);
  return { entries, offset: cdOffset, bytes, end };
}

/** `a` and `b` are the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Offset of an entry's first stored byte. */
export const entryDataOffset = (entry: CentralEntry): number =>
  entry.offset + LOCAL_HEADER_FIXED + utf8Length(entry.name);

/**
 * SPEC §7.3 step 5 for entries read in pieces: reads the local header and data descriptor of
 * `entry` and compares them with §7.2 (QcapError "format"). Returns the offset of its data.
 */
export async function checkEntryFrame(src: RangeSource, entry: CentralEntry): Promise<number> {
  const header = localHeader(entry.name);
  const dataOffset = entry.offset + header.length;
  if (!sameBytes(await readAt(src, entry.offset, header.length), header))
    fail("format", `${entry.name}: local header does not match the central directory`);
  const descriptor = await readAt(src, dataOffset + entry.size, DATA_DESCRIPTOR_SIZE);
  if (!sameBytes(descriptor, dataDescriptor(entry.crc32, entry.size)))
    fail("format", `${entry.name}: data descriptor does not match the central directory`);
  return dataOffset;
}

/**
 * The data of a small entry (manifest, signature, index), read with its local header and data
 * descriptor in one request. Framing that differs from §7.2 is a QcapError "format"; data whose
 * CRC-32 differs from the directory's is "integrity".
 */
export async function readEntryData(src: RangeSource, entry: CentralEntry): Promise<Uint8Array> {
  const header = localHeader(entry.name);
  const all = await readAt(src, entry.offset, header.length + entry.size + DATA_DESCRIPTOR_SIZE);
  if (!sameBytes(all.subarray(0, header.length), header))
    fail("format", `${entry.name}: local header does not match the central directory`);
  const data = all.subarray(header.length, header.length + entry.size);
  if (!sameBytes(all.subarray(header.length + entry.size), dataDescriptor(entry.crc32, entry.size)))
    fail("format", `${entry.name}: data descriptor does not match the central directory`);
  if (crc32(data) !== entry.crc32) fail("integrity", `${entry.name}: CRC-32 mismatch`);
  return data;
}
