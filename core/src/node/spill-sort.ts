/**
 * A `NameSorter` whose memory does not grow with the number of inputs: an external merge sort.
 * Items are sorted in runs of `runItems`, each run written to one unlinked temporary file
 * (`unlinkedTempFile`), and the runs are merged. An item is stored as its ZIP name, sealed name,
 * real name, size, mode and, for a local file (`fileInput`), its path, from which it is made again;
 * any other input is made again by `reopen`. Fewer items than one run are sorted in memory.
 */
import { closeSync, readSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import type { NamedInput, NameSorter } from "../capsule/name-order.js";
import type { PackInput } from "../capsule/pack.js";
import { fail } from "../errors.js";
import { compareNames, MODE_FILE } from "../format/entries.js";
import { fileInput, localPathOf } from "./inputs.js";
import { fsReason } from "./source.js";
import { unlinkedTempFile } from "./spill-file.js";

export interface SpillSorterOptions {
  /** Makes an input that is not a local file again from its real name, size and mode. */
  reopen?: (name: string, size: number, mode: number) => PackInput;
  /** Items per sorted run (default 50,000: a few tens of MiB). */
  runItems?: number;
  /** Folder of the temporary file (default: the system's). */
  dir?: string;
}

const BUFFER = 1 << 20;
const READ_BUFFER = 64 * 1024;

/** One stored item: its fields as read back. */
interface Stored {
  zip: string;
  sealed: Uint8Array;
  real: string;
  path: string | null;
  size: number;
  mode: number;
}

/** Appends items to the temporary file through one buffer, at increasing offsets. */
class RunWriter {
  #buf = Buffer.alloc(BUFFER);
  #used = 0;
  offset = 0;

  constructor(
    private readonly fd: number,
    private readonly dir: string,
  ) {}

  add(item: NamedInput): void {
    const path = localPathOf(item.input) ?? null;
    const zip = Buffer.from(item.name);
    const real = Buffer.from(item.input.name);
    const p = path === null ? null : Buffer.from(path);
    const need = 2 + zip.length + 2 + item.sealedName.length + 2 + real.length + 4 + (p?.length ?? 0) + 8 + 2;
    if (this.#used + need > this.#buf.length) this.flush();
    if (need > this.#buf.length) this.#buf = Buffer.alloc(need);
    const b = this.#buf;
    let at = this.#used;
    at = b.writeUInt16LE(zip.length, at);
    at += zip.copy(b, at);
    at = b.writeUInt16LE(item.sealedName.length, at);
    b.set(item.sealedName, at);
    at += item.sealedName.length;
    at = b.writeUInt16LE(real.length, at);
    at += real.copy(b, at);
    // 0xffffffff: no path (made again by `reopen`)
    at = b.writeUInt32LE(p === null ? 0xffff_ffff : p.length, at);
    if (p) at += p.copy(b, at);
    at = b.writeDoubleLE(item.input.size, at);
    at = b.writeUInt16LE(item.input.mode ?? MODE_FILE, at);
    this.#used = at;
  }

  /** Writes out the buffer; `offset` is then where the next item will start. */
  flush(): void {
    try {
      for (let at = 0; at < this.#used; )
        at += writeSync(this.fd, this.#buf, at, this.#used - at, this.offset + at);
    } catch (e) {
      fail("input", `cannot write a temporary file in ${this.dir}: ${fsReason(e)}`, e);
    }
    this.offset += this.#used;
    this.#used = 0;
  }
}

/** Reads the items of one run, `[start, end)` of the temporary file, in order. */
class RunReader {
  #buf = Buffer.alloc(READ_BUFFER);
  #have = 0;
  #at = 0;
  head: Stored | null = null;

  constructor(
    private readonly fd: number,
    private pos: number,
    private readonly end: number,
  ) {
    this.next();
  }

  /** Makes sure `n` unread bytes are buffered (growing the buffer for a long item). */
  #need(n: number): void {
    if (this.#have - this.#at >= n) return;
    const left = this.#buf.subarray(this.#at, this.#have);
    if (n > this.#buf.length) {
      const grown = Buffer.alloc(n);
      left.copy(grown);
      this.#buf = grown;
    } else left.copy(this.#buf);
    this.#have = left.length;
    this.#at = 0;
    while (this.#have < n) {
      const want = Math.min(this.#buf.length - this.#have, this.end - this.pos);
      const got = want > 0 ? readSync(this.fd, this.#buf, this.#have, want, this.pos) : 0;
      if (got === 0) fail("input", "a temporary file ended early");
      this.#have += got;
      this.pos += got;
    }
  }

  #u16(): number {
    this.#need(2);
    const x = this.#buf.readUInt16LE(this.#at);
    this.#at += 2;
    return x;
  }

  #bytes(n: number): Buffer {
    this.#need(n);
    const b = this.#buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return b;
  }

  /** Moves `head` to the next item, or to null at the end of the run. */
  next(): void {
    if (this.#at === this.#have && this.pos === this.end) {
      this.head = null;
      return;
    }
    const zip = this.#bytes(this.#u16()).toString("utf8");
    // A copy from Node's shared pool, not an ArrayBuffer of its own for each item.
    const sealed = Buffer.from(this.#bytes(this.#u16()));
    const real = this.#bytes(this.#u16()).toString("utf8");
    this.#need(4);
    const pathLength = this.#buf.readUInt32LE(this.#at);
    this.#at += 4;
    const path = pathLength === 0xffff_ffff ? null : this.#bytes(pathLength).toString("utf8");
    this.#need(10);
    const size = this.#buf.readDoubleLE(this.#at);
    const mode = this.#buf.readUInt16LE(this.#at + 8);
    this.#at += 10;
    this.head = { zip, sealed, real, path, size, mode };
  }
}

/** A binary min-heap of run readers by their head's ZIP name. */
class Heap {
  readonly items: RunReader[] = [];

  #less(i: number, j: number): boolean {
    const a = this.items[i]?.head as Stored;
    const b = this.items[j]?.head as Stored;
    return compareNames(a.zip, b.zip) < 0;
  }

  #swap(i: number, j: number): void {
    const t = this.items[i] as RunReader;
    this.items[i] = this.items[j] as RunReader;
    this.items[j] = t;
  }

  push(r: RunReader): void {
    this.items.push(r);
    for (let i = this.items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  /** Re-places the top after its head moved on (or removes it at its end). */
  settleTop(): void {
    if ((this.items[0] as RunReader).head === null) {
      const last = this.items.pop() as RunReader;
      if (this.items.length === 0) return;
      this.items[0] = last;
    }
    const n = this.items.length;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#less(l, m)) m = l;
      if (r < n && this.#less(r, m)) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }
}

const byZipName = (a: NamedInput, b: NamedInput) => compareNames(a.name, b.name);

export function spillSorter(options: SpillSorterOptions = {}): NameSorter {
  const runItems = options.runItems ?? 50_000;
  const dir = options.dir ?? tmpdir();
  const remake = (s: Stored): NamedInput => {
    let input: PackInput;
    if (s.path !== null) input = fileInput(s.path, s.real, s.size, s.mode);
    else if (options.reopen) input = options.reopen(s.real, s.size, s.mode);
    else throw new Error("spillSorter: an input that is not a local file needs `reopen`");
    return { input, name: s.zip, sealedName: s.sealed };
  };
  return {
    async *sort(items) {
      let run: NamedInput[] = [];
      let fd: number | null = null;
      const runs: { start: number; end: number }[] = [];
      try {
        let writer: RunWriter | null = null;
        for await (const item of items) {
          run.push(item);
          if (run.length < runItems) continue;
          if (fd === null) fd = unlinkedTempFile(dir);
          writer ??= new RunWriter(fd, dir);
          run.sort(byZipName);
          const start = writer.offset;
          for (const r of run) writer.add(r);
          writer.flush();
          runs.push({ start, end: writer.offset });
          run = [];
        }
        run.sort(byZipName);
        if (fd === null) {
          yield* run;
          return;
        }
        // The spilled runs are merged with the last one, which stays in memory.
        const heap = new Heap();
        for (const r of runs) heap.push(new RunReader(fd, r.start, r.end));
        const memory = run[Symbol.iterator]();
        let tail = memory.next();
        while (heap.items.length > 0 || !tail.done) {
          const top = heap.items[0];
          if (top?.head && (tail.done || compareNames(top.head.zip, tail.value.name) < 0)) {
            const s = top.head;
            top.next();
            heap.settleTop();
            yield remake(s);
          } else if (!tail.done) {
            yield tail.value;
            tail = memory.next();
          }
        }
      } finally {
        if (fd !== null) closeSync(fd);
      }
    },
  };
}
