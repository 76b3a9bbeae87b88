/** A capsule's entries as the inputs of a new pack (`seal`, `recipients`). */
import type { Capsule } from "../capsule/capsule.js";
import type { PackInput } from "../capsule/pack.js";
import { plainChunks } from "../capsule/read.js";
import { type EntryKeys, entryNames, realNames } from "../capsule/unlock.js";

export interface EntrySource {
  /** Every entry under its real name, in the capsule's index order (a list for version 1). */
  inputs: PackInput[] | AsyncIterable<PackInput>;
  /** The input of the entry whose real name is `name`, found again (for `spillSorter`). */
  reopen(name: string, size: number, mode: number): PackInput;
  /** Forgets the names key, once the pack is done. */
  close(): void;
}

/**
 * The entries of `capsule` as pack inputs under their real names, their plaintext read (with `keys`
 * when sealed) as pack asks for it. From a version 2 capsule they are read from the index as pack
 * goes, so that memory does not grow with the number of entries: in the order of their real names,
 * or with hidden names (opened with `masterKey`) in the order of their hashes. Version 1 lists
 * entries in file order: its list is built whole, and pack sorts it.
 */
export async function entryInputs(
  capsule: Capsule,
  keys?: EntryKeys,
  masterKey?: Uint8Array,
): Promise<EntrySource> {
  const input = (zipName: string, name: string, size: number, mode: number): PackInput => ({
    name,
    size,
    mode,
    read: () => plainChunks(capsule, zipName, keys),
  });
  if (capsule.version !== 2) {
    const names = await realNames(capsule, masterKey);
    return {
      inputs: (await capsule.allEntries()).map((e) =>
        input(e.name, names.get(e.name) ?? e.name, e.size, e.mode),
      ),
      reopen: () => {
        throw new Error("entryInputs: a version 1 capsule is packed from its list");
      },
      close: () => {},
    };
  }
  const names = entryNames(capsule, masterKey);
  return {
    inputs: {
      async *[Symbol.asyncIterator]() {
        for await (const e of capsule.entries()) yield input(e.name, names.realName(e), e.size, e.mode);
      },
    },
    reopen: (name, size, mode) => input(names.zipName(name), name, size, mode),
    close: names.forget,
  };
}
