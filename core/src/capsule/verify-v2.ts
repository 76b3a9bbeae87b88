/**
 * `verify` of a version 2 capsule (design §7): every page, in post-order, checked against its parent;
 * every record's place, name order and name rules; the whole central directory compared, record by
 * record, with the one the index implies; the file's total length. Streams: one page per level and a
 * window of the central directory are held at a time.
 */
import { fail } from "../errors.js";
import { compareBytes } from "../format/entries.js";
import { MANIFEST_NAME, SIGNATURE_NAME } from "../format/manifest.js";
import type { LeafRecord } from "../format/pages.js";
import { crc32 } from "../hash/crc32.js";
import { equalBytes } from "../hash/hex.js";
import type { RangeSource } from "../io/source.js";
import {
  centralHeader,
  DATA_DESCRIPTOR_SIZE,
  END_RECORDS_SIZE,
  LOCAL_HEADER_FIXED,
  type ZipEntrySpec,
} from "../zip/layout.js";
import { utf8Length } from "../zip/names.js";
import { CompactNameSet } from "./compact-names.js";
import type { IndexV2 } from "./index-v2.js";
import type { HeaderGroup, Tail } from "./tail.js";
import type { CapsuleEntry } from "./types.js";

const WINDOW = 1024 * 1024;

/** The central directory read in order, a window at a time. */
class DirectoryReader {
  #buf: Uint8Array = new Uint8Array(0);
  #bufAt = 0;
  #pos = 0;
  constructor(
    private readonly source: RangeSource,
    private readonly start: number,
    private readonly size: number,
  ) {}

  async expect(want: Uint8Array, name: string): Promise<void> {
    if (this.#pos + want.length > this.size) fail("integrity", `the central directory ends before ${name}`);
    if (this.#pos + want.length > this.#bufAt + this.#buf.length) {
      const n = Math.min(this.size - this.#pos, Math.max(WINDOW, want.length));
      this.#buf = await this.source.read(this.start + this.#pos, n);
      this.#bufAt = this.#pos;
    }
    const at = this.#pos - this.#bufAt;
    if (!equalBytes(this.#buf.subarray(at, at + want.length), want))
      fail("integrity", `the central directory record of ${name} does not match the index`);
    this.#pos += want.length;
  }

  get atEnd(): boolean {
    return this.#pos === this.size;
  }
}

export async function verifyV2(
  ix: IndexV2,
  tail: Tail,
  group: HeaderGroup,
  checkEntry: (e: CapsuleEntry) => Promise<void>,
): Promise<void> {
  const source = ix.source;
  const cd = new DirectoryReader(source, tail.end.cdOffset, tail.end.cdSize);
  let offset = 0;
  let count = 0;
  const place = async (spec: ZipEntrySpec, at: number): Promise<void> => {
    if (at !== offset) fail("integrity", `${spec.name} is at offset ${at}, expected ${offset}`);
    await cd.expect(centralHeader(spec, at), spec.name);
    offset = at + LOCAL_HEADER_FIXED + utf8Length(spec.name) + spec.size + DATA_DESCRIPTOR_SIZE;
    count++;
  };
  // Every name is held (case collisions may be far apart), compactly: a million fit in ~60 MB.
  const names = new CompactNameSet();
  let last: Uint8Array | null = null;
  for await (const p of ix.pages(true)) {
    if (p.level === 0) {
      for (const [i, r] of (p.page.records as LeafRecord[]).entries()) {
        const nb = p.page.names[i] as Uint8Array;
        if (last && compareBytes(last, nb) >= 0)
          fail("format", `the index is not in order at ${JSON.stringify(r.name)}`);
        last = nb;
        names.add(r.name);
        const e = ix.entryOf(r);
        await place({ name: r.name, size: e.stored, crc32: r.crc32, mode: r.mode }, r.offset);
        if (e.index) {
          const t = e.index;
          await place({ name: t.name, size: t.size, crc32: t.crc32, mode: 0o644 }, t.offset);
        }
        await checkEntry(e);
      }
    }
    await place({ name: p.name, size: p.bytes.length, crc32: crc32(p.bytes), mode: 0o644 }, p.offset);
  }
  const m = group.manifestBytes;
  await place({ name: MANIFEST_NAME, size: m.length, crc32: crc32(m), mode: 0o644 }, tail.manifest.offset);
  const s = group.signature;
  await place({ name: SIGNATURE_NAME, size: s.length, crc32: crc32(s), mode: 0o644 }, tail.signature.offset);
  if (offset !== tail.end.cdOffset)
    fail("integrity", "bytes between the last entry and the central directory");
  if (!cd.atEnd) fail("integrity", "the central directory holds records the index does not");
  if (count !== tail.end.count)
    fail("integrity", `the archive has ${tail.end.count} entries, the index implies ${count}`);
  if (tail.end.cdOffset + tail.end.cdSize + END_RECORDS_SIZE !== source.size)
    fail("integrity", "the file does not end with the end records");
}
