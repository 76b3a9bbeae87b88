/**
 * The tail and the header group of a version 2 capsule (design §7 steps 1-2): the last 370 bytes
 * hold the central directory records of `pages/root`, `manifest.json` and the signature and the
 * end records; those three entries are contiguous and end where the central directory starts.
 */
import { fail } from "../errors.js";
import { MANIFEST_NAME, MAX_MANIFEST_BYTES, SIGNATURE_NAME } from "../format/manifest.js";
import { MAX_PAGE_BYTES, ROOT_PAGE_NAME } from "../format/pages.js";
import { crc32 } from "../hash/crc32.js";
import { equalBytes } from "../hash/hex.js";
import type { RangeSource } from "../io/source.js";
import {
  CENTRAL_HEADER_FIXED,
  centralHeader,
  DATA_DESCRIPTOR_SIZE,
  dataDescriptor,
  END_RECORDS_SIZE,
  LOCAL_HEADER_FIXED,
  localHeader,
  SIG_CENTRAL,
} from "../zip/layout.js";
import { checkEndRecords, type EndRecords } from "../zip/reader.js";

const encoder = new TextEncoder();
const TAIL_NAMES = [ROOT_PAGE_NAME, MANIFEST_NAME, SIGNATURE_NAME] as const;
const TAIL_RECORDS = TAIL_NAMES.reduce(
  (n, name) => n + CENTRAL_HEADER_FIXED + encoder.encode(name).length,
  0,
);
/** Bytes a reader reads first: the three central directory records and the end records (370). */
export const TAIL_BYTES = TAIL_RECORDS + END_RECORDS_SIZE;
const TRUNCATED = "truncated or not a capsule";

/** One central directory record of the tail, as read. */
export interface TailRecord {
  name: string;
  size: number;
  crc32: number;
  offset: number;
}

export interface Tail {
  end: EndRecords;
  root: TailRecord;
  manifest: TailRecord;
  signature: TailRecord;
}

const u64 = (v: DataView, pos: number): number => {
  const hi = v.getUint32(pos + 4, true);
  if (hi >= 0x20_0000) fail("format", "a 64-bit field is too large");
  return hi * 0x1_0000_0000 + v.getUint32(pos, true);
};

/** Whether `tail` (the last 370 bytes or fewer) starts with the central directory record of `pages/root`. */
export function isV2Tail(tail: Uint8Array): boolean {
  if (tail.length < TAIL_BYTES) return false;
  const v = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const name = encoder.encode(ROOT_PAGE_NAME);
  return (
    v.getUint32(0, true) === SIG_CENTRAL &&
    v.getUint16(28, true) === name.length &&
    equalBytes(tail.subarray(46, 46 + name.length), name)
  );
}

/** Reads the last `TAIL_BYTES` of `source` (fewer when the file is smaller). */
export async function readTail(source: RangeSource): Promise<Uint8Array> {
  const n = Math.min(TAIL_BYTES, source.size);
  return n > 0 ? source.read(source.size - n, n) : new Uint8Array(0);
}

/** Checks a version 2 tail exactly (design §7 step 1). */
export function parseTail(tail: Uint8Array, size: number): Tail {
  if (tail.length < TAIL_BYTES) fail("format", TRUNCATED);
  const end = checkEndRecords(tail.subarray(tail.length - END_RECORDS_SIZE), size);
  if (end.count < 3 || end.cdSize < TAIL_RECORDS) fail("format", "central directory too small for a capsule");
  const v = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const records: TailRecord[] = [];
  let pos = 0;
  for (const name of TAIL_NAMES) {
    const n = encoder.encode(name).length;
    const crc = v.getUint32(pos + 16, true);
    const x = pos + 46 + n;
    const entrySize = u64(v, x + 4);
    const offset = u64(v, x + 20);
    const want = centralHeader({ name, size: entrySize, crc32: crc, mode: 0o644 }, offset);
    if (!equalBytes(tail.subarray(pos, pos + want.length), want))
      fail("format", `central directory record of ${name} is not as the format prescribes`);
    records.push({ name, size: entrySize, crc32: crc, offset });
    pos += want.length;
  }
  const [root, manifest, signature] = records as [TailRecord, TailRecord, TailRecord];
  return { end, root, manifest, signature };
}

const span = (r: TailRecord): number =>
  LOCAL_HEADER_FIXED + encoder.encode(r.name).length + r.size + DATA_DESCRIPTOR_SIZE;

export interface HeaderGroup {
  rootPage: Uint8Array;
  manifestBytes: Uint8Array;
  signature: Uint8Array;
}

/**
 * Design §7 step 2: the root page, manifest and signature in one request, bounded before it is sent;
 * their local headers and data descriptors exact, their CRC-32s recomputed, contiguous up to the
 * central directory.
 */
export async function readHeaderGroup(source: RangeSource, t: Tail): Promise<HeaderGroup> {
  if (t.root.size > MAX_PAGE_BYTES) fail("format", `the root page is too large (${t.root.size} bytes)`);
  if (t.manifest.size > MAX_MANIFEST_BYTES) fail("format", "manifest.json is larger than 1 MiB");
  if (t.signature.size !== 64) fail("format", "signature entry must be 64 bytes");
  const records = [t.root, t.manifest, t.signature];
  let at = t.root.offset;
  for (const r of records) {
    if (r.offset !== at) fail("format", `${r.name} does not follow the entry before it`);
    at += span(r);
  }
  if (at !== t.end.cdOffset)
    fail("format", "the signature entry does not end where the central directory starts");
  const bytes = await source.read(t.root.offset, at - t.root.offset);
  if (bytes.length !== at - t.root.offset) fail("format", TRUNCATED);
  const out: Uint8Array[] = [];
  for (const r of records) {
    const p = r.offset - t.root.offset;
    const header = localHeader(r.name);
    if (!equalBytes(bytes.subarray(p, p + header.length), header))
      fail("format", `${r.name}: local header does not match the central directory`);
    const data = bytes.subarray(p + header.length, p + header.length + r.size);
    const descriptor = bytes.subarray(p + header.length + r.size, p + span(r));
    if (!equalBytes(descriptor, dataDescriptor(r.crc32, r.size)))
      fail("format", `${r.name}: data descriptor does not match the central directory`);
    if (crc32(data) !== r.crc32) fail("integrity", `${r.name}: CRC-32 mismatch`);
    out.push(data);
  }
  const [rootPage, manifestBytes, signature] = out as [Uint8Array, Uint8Array, Uint8Array];
  return { rootPage, manifestBytes, signature };
}
