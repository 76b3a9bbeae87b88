/** A capsule's entries as the inputs of a new pack (`seal`, `recipients`). */
import type { Capsule, CapsuleEntry } from "../capsule/capsule.js";
import type { PackInput } from "../capsule/pack.js";
import { plainChunks } from "../capsule/read.js";
import { type EntryKeys, realNames } from "../capsule/unlock.js";

/**
 * Every entry of `capsule` as a pack input under its real name, its plaintext read (with `keys` when
 * sealed) as pack asks for it. From a version 2 capsule they are read from the index as pack goes, so
 * that memory does not grow with the number of entries. Otherwise the list is built whole: with hidden
 * names (opened with `masterKey`) pack orders the real names by their new hashes anyway, and version 1
 * lists entries in file order, which pack sorts.
 */
export async function entryInputs(
  capsule: Capsule,
  keys?: EntryKeys,
  masterKey?: Uint8Array,
): Promise<PackInput[] | AsyncIterable<PackInput>> {
  const input = (e: CapsuleEntry, name: string): PackInput => ({
    name,
    size: e.size,
    mode: e.mode,
    read: () => plainChunks(capsule, e.name, keys),
  });
  if (capsule.hiddenNames || capsule.version !== 2) {
    const names = await realNames(capsule, masterKey);
    return (await capsule.allEntries()).map((e) => input(e, names.get(e.name) ?? e.name));
  }
  // ZIP names are the real names, and the index lists them in the order pack needs (SPEC §3.2).
  return {
    async *[Symbol.asyncIterator]() {
      for await (const e of capsule.entries()) yield input(e, e.name);
    },
  };
}
