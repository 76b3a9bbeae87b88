/**
 * The entry index of a version 2 capsule (design §4, §7): a lookup descends from the signed root
 * page, fetching one page per level, each checked against its parent's record before it is used.
 */

import { namesKey } from "../crypto/kdf.js";
import { fail } from "../errors.js";
import { compareBytes, entryStoredSize, hasChunkTree, storedChunkSize } from "../format/entries.js";
import { openSealedName } from "../format/hidden-names.js";
import type { Manifest } from "../format/manifest.js";
import {
  decodePage,
  type InteriorRecord,
  type LeafRecord,
  MAX_LEVELS,
  PAGE_FANOUT,
  type Page,
  pageName,
  ROOT_PAGE_NAME,
  treeShape,
} from "../format/pages.js";
import { blake3 } from "../hash/blake3.js";
import { crc32 } from "../hash/crc32.js";
import { equalBytes, fromHex } from "../hash/hex.js";
import { indexSize } from "../integrity/tree.js";
import type { RangeSource } from "../io/source.js";
import { DATA_DESCRIPTOR_SIZE, dataDescriptor, LOCAL_HEADER_FIXED, localHeader } from "../zip/layout.js";
import { utf8Length } from "../zip/names.js";
import type { CapsuleEntry } from "./types.js";

const encoder = new TextEncoder();

/** A page checked against the record that points at it, with where it sits in the tree. */
export interface PlacedPage {
  page: Page;
  bytes: Uint8Array;
  level: number;
  /** 1-based position within its level. */
  position: number;
  /** Offset of its local header, and its ZIP name. */
  offset: number;
  name: string;
}

export class IndexV2 {
  readonly sealed: boolean;
  readonly shape: number[];
  readonly root: PlacedPage;
  /** Last page fetched per level, so that lookups in order fetch each page once. */
  readonly #cache: (PlacedPage | undefined)[] = [];

  constructor(
    readonly source: RangeSource,
    readonly manifest: Manifest,
    rootPage: Uint8Array,
    rootOffset: number,
  ) {
    this.sealed = manifest.seal !== null;
    this.shape = treeShape(manifest.entries);
    if (this.shape.length > MAX_LEVELS) fail("format", `the index would have ${this.shape.length} levels`);
    if (!equalBytes(blake3(rootPage), fromHex(manifest.root, 32)))
      fail("integrity", "the root page does not match the signed root");
    const level = this.shape.length - 1;
    const page = decodePage(rootPage, ROOT_PAGE_NAME, level);
    if (page.level !== level)
      fail(
        "format",
        `${ROOT_PAGE_NAME}: level ${page.level}, expected ${level} for ${manifest.entries} entries`,
      );
    this.root = { page, bytes: rootPage, level, position: 1, offset: rootOffset, name: ROOT_PAGE_NAME };
    this.#checkCount(this.root);
  }

  /** Records a page of `level` at `position` must hold: fixed by the entry count. */
  expectedCount(level: number, position: number): number {
    const below = level === 0 ? this.manifest.entries : (this.shape[level - 1] as number);
    return Math.min(PAGE_FANOUT, below - (position - 1) * PAGE_FANOUT);
  }

  #checkCount(p: PlacedPage): void {
    const want = this.expectedCount(p.level, p.position);
    if (p.page.records.length !== want)
      fail("format", `${p.name}: ${p.page.records.length} records, expected ${want}`);
  }

  /**
   * Fetches child `j` of `parent` and checks it (design §7 step 3): its local header, its hash
   * against the parent's record, its level, count, first name and, when the parent has a next
   * record, that its last name is below that record's first. `withDescriptor` also reads and checks
   * the data descriptor after it.
   */
  async child(parent: PlacedPage, j: number, withDescriptor = false): Promise<PlacedPage> {
    const level = parent.level - 1;
    const position = (parent.position - 1) * PAGE_FANOUT + j + 1;
    const cached = this.#cache[level];
    if (cached && cached.position === position && !withDescriptor) return cached;
    const r = parent.page.records[j] as InteriorRecord;
    const name = pageName(level, position);
    const header = localHeader(name);
    const total = header.length + r.length + (withDescriptor ? DATA_DESCRIPTOR_SIZE : 0);
    if (r.offset + total > this.root.offset) fail("format", `${name} lies beyond the root page`);
    const all = await this.source.read(r.offset, total);
    if (!equalBytes(all.subarray(0, header.length), header))
      fail("format", `${name}: local header does not match`);
    const bytes = all.subarray(header.length, header.length + r.length);
    if (!equalBytes(blake3(bytes), r.hash)) fail("integrity", `${name} does not match its parent's hash`);
    if (
      withDescriptor &&
      !equalBytes(all.subarray(header.length + r.length), dataDescriptor(crc32(bytes), r.length))
    )
      fail("format", `${name}: data descriptor does not match`);
    const page = decodePage(bytes, name, level);
    if (page.level !== level) fail("format", `${name}: level ${page.level}, expected ${level}`);
    const placed: PlacedPage = { page, bytes, level, position, offset: r.offset, name };
    this.#checkCount(placed);
    const first = page.names[0] as Uint8Array;
    if (!equalBytes(first, encoder.encode(r.first)))
      fail("format", `${name}: its first name is not its parent's record`);
    const next = parent.page.records[j + 1] as InteriorRecord | undefined;
    if (
      next &&
      compareBytes(page.names[page.names.length - 1] as Uint8Array, encoder.encode(next.first)) >= 0
    )
      fail("format", `${name}: its names reach into the next page's`);
    this.#cache[level] = placed;
    return placed;
  }

  /** The entry named `name` (its ZIP name), or null: one page per level below the root. */
  async lookup(name: string): Promise<CapsuleEntry | null> {
    const target = encoder.encode(name);
    let p = this.root;
    while (p.level > 0) {
      const j = lastAtMost(p.page.names, target);
      if (j < 0) return null;
      p = await this.child(p, j);
    }
    const j = lastAtMost(p.page.names, target);
    if (j < 0 || !equalBytes(p.page.names[j] as Uint8Array, target)) return null;
    return this.entryOf(p.page.records[j] as LeafRecord);
  }

  /** The capsule entry a leaf record describes, its placement derived from it. */
  entryOf(r: LeafRecord): CapsuleEntry {
    const stored = entryStoredSize(r.name, r.size, this.sealed);
    const chunkSize = storedChunkSize(r.name, this.sealed);
    const dataOffset = r.offset + LOCAL_HEADER_FIXED + utf8Length(r.name);
    let end = dataOffset + stored + DATA_DESCRIPTOR_SIZE;
    let index: CapsuleEntry["index"] = null;
    if (hasChunkTree(r.name, r.size, this.sealed)) {
      const ixName = `index/${r.name}`;
      const size = indexSize(stored, chunkSize);
      index = {
        name: ixName,
        size,
        crc32: r.treeCrc32,
        mode: 0o644,
        offset: end,
        dataOffset: end + LOCAL_HEADER_FIXED + utf8Length(ixName),
      };
      end = index.dataOffset + size + DATA_DESCRIPTOR_SIZE;
    } else if (r.treeCrc32 !== 0) fail("format", `${r.name}: a tree CRC-32 for an entry without a tree`);
    if (end > this.root.offset) fail("format", `${r.name} lies beyond the root page`);
    if (
      r.sealedName.length > 0 !==
      (this.manifest.seal?.hiddenNames === true && r.name.startsWith("payload/"))
    )
      fail("format", `${r.name}: a sealed name is ${r.sealedName.length > 0 ? "unexpected" : "missing"}`);
    return {
      name: r.name,
      size: r.size,
      mode: r.mode,
      digest: r.digest,
      stored,
      chunkSize,
      placed: { name: r.name, size: stored, crc32: r.crc32, mode: r.mode, offset: r.offset, dataOffset },
      index,
      sealedName: r.sealedName,
    };
  }

  /** Every page in post-order, each checked against its parent; `withDescriptor` as for `child`. */
  async *pages(withDescriptor = false): AsyncGenerator<PlacedPage> {
    const walk = async function* (self: IndexV2, p: PlacedPage): AsyncGenerator<PlacedPage> {
      if (p.level > 0)
        for (let j = 0; j < p.page.records.length; j++)
          yield* walk(self, await self.child(p, j, withDescriptor));
      yield p;
    };
    yield* walk(this, this.root);
  }

  async *entries(): AsyncGenerator<CapsuleEntry> {
    for await (const p of this.pages()) {
      if (p.level === 0) for (const r of p.page.records as LeafRecord[]) yield this.entryOf(r);
    }
  }

  async realNames(masterKey?: Uint8Array): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const seal = this.manifest.seal;
    const key = seal?.hiddenNames && masterKey ? namesKey(masterKey, fromHex(seal.capsuleId, 16)) : null;
    try {
      for await (const e of this.entries()) {
        if (!e.name.startsWith("payload/")) continue;
        out.set(e.name, key ? openSealedName(key, e.name, e.sealedName) : e.name);
      }
    } finally {
      key?.fill(0);
    }
    return out;
  }
}

/** Index of the last name ≤ `target`, or -1. */
function lastAtMost(names: readonly Uint8Array[], target: Uint8Array): number {
  let lo = 0;
  let hi = names.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (compareBytes(names[mid] as Uint8Array, target) <= 0) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
