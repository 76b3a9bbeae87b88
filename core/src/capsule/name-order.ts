/**
 * Ordering a stream of inputs by their ZIP names. Hidden names (SPEC §5.4) sort by their keyed
 * hashes, not by the real names a folder walk yields them in, so a pack with hidden names reorders
 * its inputs: in memory by default, or with bounded memory by a sorter that spills (on Node:
 * `spillSorter`). A source already in ZIP-name order (e.g. the entries of a capsule whose hidden
 * names are kept) is only checked.
 */
import { fail } from "../errors.js";
import { compareNames } from "../format/entries.js";
import type { NamedInput } from "./pack-batches.js";

export type { NamedInput };

/** Yields `items` in UTF-8 byte order of their ZIP names (`NamedInput.name`). */
export interface NameSorter {
  sort(items: AsyncIterable<NamedInput>): AsyncIterable<NamedInput>;
}

/** Holds every item, then sorts: memory grows with the number of inputs. */
export const sortInMemory: NameSorter = {
  async *sort(items) {
    const all: NamedInput[] = [];
    for await (const item of items) all.push(item);
    all.sort((a, b) => compareNames(a.name, b.name));
    yield* all;
  },
};

/** For a source that yields its items in ZIP-name order already: checks that order, holds nothing. */
export const alreadySorted: NameSorter = {
  async *sort(items) {
    let previous: string | null = null;
    for await (const item of items) {
      if (previous !== null && compareNames(previous, item.name) >= 0)
        fail("input", `inputs out of order: "${item.name}" after "${previous}"`);
      previous = item.name;
      yield item;
    }
  },
};
