/**
 * The streaming page-tree builder (design §4, §6): one open page per level; a full page is written
 * when the next record for its level arrives, or at the end, so the pages come out in post-order and
 * only the last one, the root, is named `pages/root`. Memory: at most one page per level.
 */
import { blake3 } from "../hash/blake3.js";
import {
  encodeInterior,
  encodeLeaf,
  encodePage,
  type LeafRecord,
  MAX_LEVELS,
  PAGE_FANOUT,
  pageName,
  ROOT_PAGE_NAME,
} from "./pages.js";

/** Writes one page entry and returns the offset of its local header. */
export type PageSink = (name: string, bytes: Uint8Array) => Promise<number>;

interface OpenPage {
  records: Uint8Array[];
  first: string | null;
  written: number;
}

export interface BuiltTree {
  root: Uint8Array;
  rootPage: Uint8Array;
  /** Pages per level, from level 0 up to the root's. */
  shape: number[];
}

export class PageTreeBuilder {
  readonly #levels: OpenPage[] = [{ records: [], first: null, written: 0 }];
  #finished = false;

  constructor(private readonly sink: PageSink) {}

  /** Writes the level-0 page if it is full: call before writing the next entry's bytes. */
  async beforeEntry(): Promise<void> {
    if ((this.#levels[0] as OpenPage).records.length === PAGE_FANOUT) await this.#flush(0);
  }

  /** Records the open level-0 page still takes (after `beforeEntry`: at least one). */
  room(): number {
    return PAGE_FANOUT - (this.#levels[0] as OpenPage).records.length;
  }

  /** Adds the record of the entry just written (after `beforeEntry`). */
  add(record: LeafRecord): void {
    const page = this.#levels[0] as OpenPage;
    if (this.#finished || page.records.length >= PAGE_FANOUT) throw new Error("PageTreeBuilder: misuse");
    page.first ??= record.name;
    page.records.push(encodeLeaf(record));
  }

  async #flush(level: number): Promise<void> {
    const page = this.#levels[level] as OpenPage;
    const bytes = encodePage(level, page.records);
    page.written++;
    const offset = await this.sink(pageName(level, page.written), bytes);
    const record = encodeInterior({
      first: page.first as string,
      offset,
      length: bytes.length,
      hash: blake3(bytes),
    });
    page.records = [];
    const first = page.first as string;
    page.first = null;
    if (level + 1 >= MAX_LEVELS) throw new Error("PageTreeBuilder: too many levels");
    this.#levels[level + 1] ??= { records: [], first: null, written: 0 };
    const parent = this.#levels[level + 1] as OpenPage;
    if (parent.records.length === PAGE_FANOUT) await this.#flush(level + 1);
    parent.first ??= first;
    parent.records.push(record);
  }

  /** Writes the remaining pages, the root last. */
  async finish(): Promise<BuiltTree> {
    this.#finished = true;
    for (let level = 0; ; level++) {
      const page = this.#levels[level] as OpenPage;
      if (page.written === 0) {
        const rootPage = encodePage(level, page.records);
        await this.sink(ROOT_PAGE_NAME, rootPage);
        const shape = this.#levels.slice(0, level).map((p) => p.written);
        shape.push(1);
        return { root: blake3(rootPage), rootPage, shape };
      }
      await this.#flush(level);
    }
  }
}
