/**
 * The name-set rules of SPEC §2 (no repeats, no collisions after case folding, no name that is both
 * a file and a folder) checked over a stream of names in compact memory: the names as UTF-8 bytes in
 * one growing buffer and open-addressing tables of 32-bit hashes, about 60 bytes a name instead of
 * a few hundred for maps of strings. A hash hit is re-checked against the stored name, so the
 * answers and messages are exactly those of `NameSet`.
 */
import { fail } from "../errors.js";
import { show } from "../zip/names.js";

const ASCII = /^[\x20-\x7e]*$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** FNV-1a over the UTF-16 code units of `s[0, end)`. */
function hashOf(s: string, end = s.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Every name added, as UTF-8 in one buffer. */
class NameStore {
  #bytes = new Uint8Array(1 << 16);
  #used = 0;
  #starts = new Float64Array(1024);
  count = 0;

  add(name: string): number {
    const need = this.#used + name.length * 3;
    if (need > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.#bytes.length * 2));
      grown.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = grown;
    }
    if (this.count + 1 >= this.#starts.length) {
      const grown = new Float64Array(this.#starts.length * 2);
      grown.set(this.#starts);
      this.#starts = grown;
    }
    this.#starts[this.count] = this.#used;
    this.#used += encoder.encodeInto(name, this.#bytes.subarray(this.#used)).written;
    this.#starts[this.count + 1] = this.#used;
    return this.count++;
  }

  get(id: number): string {
    return decoder.decode(this.#bytes.subarray(this.#starts[id], this.#starts[id + 1]));
  }
}

/**
 * Keys (a prefix, `length` code units long, of a stored name folded) mapped to that name, in an
 * open-addressing table.
 */
class KeyTable {
  #hashes = new Uint32Array(1024);
  /** name id + 1 (0: empty) and key length, per slot */
  #ids = new Int32Array(1024);
  #lengths = new Int32Array(1024);
  #count = 0;

  /** `folded(id)`: name `id` folded, to re-check a hash hit. */
  constructor(private readonly folded: (id: number) => string) {}

  /** The id of the name whose key equals `key` (hash `h`), or -1. */
  find(key: string, h: number): number {
    const mask = this.#hashes.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const id = (this.#ids[i] as number) - 1;
      if (id < 0) return -1;
      if (this.#hashes[i] === h && this.#lengths[i] === key.length) {
        if (this.folded(id).slice(0, key.length) === key) return id;
      }
    }
  }

  set(h: number, id: number, length: number): void {
    if (2 * (this.#count + 1) > this.#hashes.length) this.#grow();
    this.#put(h, id + 1, length);
    this.#count++;
  }

  #put(h: number, idPlusOne: number, length: number): void {
    const mask = this.#hashes.length - 1;
    let i = h & mask;
    while (this.#ids[i] !== 0) i = (i + 1) & mask;
    this.#hashes[i] = h;
    this.#ids[i] = idPlusOne;
    this.#lengths[i] = length;
  }

  #grow(): void {
    const [hashes, ids, lengths] = [this.#hashes, this.#ids, this.#lengths];
    this.#hashes = new Uint32Array(hashes.length * 2);
    this.#ids = new Int32Array(ids.length * 2);
    this.#lengths = new Int32Array(lengths.length * 2);
    for (let i = 0; i < hashes.length; i++)
      if (ids[i] !== 0) this.#put(hashes[i] as number, ids[i] as number, lengths[i] as number);
  }
}

/** `NameSet` of `zip/names.ts` in compact memory, for streams of many names. */
export class CompactNameSet {
  readonly #names = new NameStore();
  readonly #fold = (id: number) => this.#names.get(id).toLowerCase();
  readonly #files = new KeyTable(this.#fold);
  readonly #dirs = new KeyTable(this.#fold);

  get size(): number {
    return this.#names.count;
  }

  /** Throws QcapError "format" as `NameSet.add` does. */
  add(name: string): void {
    const ascii = ASCII.test(name);
    if (!ascii && name.normalize("NFC") !== name)
      fail("format", `entry name ${show(name)} is not in Unicode NFC`);
    const folded = name.toLowerCase();
    const h = hashOf(folded);
    const earlier = this.#files.find(folded, h);
    if (earlier >= 0) {
      const e = this.#names.get(earlier);
      if (e === name) fail("format", `duplicate entry name ${show(name)}`);
      fail("format", `entry names ${show(e)} and ${show(name)} collide after case folding`);
    }
    const under = this.#dirs.find(folded, h);
    if (under >= 0)
      fail(
        "format",
        `entry name ${show(name)} is both a file and a directory (${show(this.#names.get(under))})`,
      );
    const id = this.#names.add(name);
    for (let i = folded.lastIndexOf("/"); i > 0; i = folded.lastIndexOf("/", i - 1)) {
      const dir = folded.slice(0, i);
      const dh = hashOf(folded, i);
      const file = this.#files.find(dir, dh);
      if (file >= 0)
        fail(
          "format",
          `entry name ${show(this.#names.get(file))} is both a file and a directory (${show(name)})`,
        );
      if (this.#dirs.find(dir, dh) >= 0) break;
      this.#dirs.set(dh, id, i);
    }
    this.#files.set(h, id, folded.length);
  }
}
