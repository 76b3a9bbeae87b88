/**
 * Streaming ZIP64 writer of SPEC §7.2 over a Sink: STORE only, one pass, bounded memory (one small
 * record per entry). Its output is byte for byte what `computeLayout` predicts for the same entries.
 */
import { type Crc32, createCrc32 } from "../hash/crc32.js";
import type { Sink } from "../io/sink.js";
import {
  centralHeader,
  DATA_DESCRIPTOR_SIZE,
  dataDescriptorInto,
  END_RECORDS_SIZE,
  endRecords,
  LOCAL_HEADER_FIXED,
  localHeaderInto,
  MODES,
  type ZipEntrySpec,
} from "./layout.js";
import { NameSet, utf8Length, validateEntryName } from "./names.js";

const BLOCK = 1024 * 1024;

/**
 * Where full blocks of the central directory go while the archive is written (e.g. a temporary
 * file), so that memory does not grow with the number of entries. Blocks come back in order.
 */
export interface DirectorySpill {
  /** Stores a copy of `block` before it returns (the block is reused). */
  write(block: Uint8Array): void;
  /** Every block written, in order; each is valid until the next is requested. */
  readBack(): AsyncIterable<Uint8Array>;
  /** Releases it (after `readBack`, or on failure). */
  close(): void;
}

/**
 * The central directory as it grows: its records' bytes in blocks, not one object per entry, so a
 * writer of millions of entries holds about 100 bytes for each, or, given a spill, one block.
 */
class DirectorySpool {
  readonly #blocks: Uint8Array[] = [];
  #block = new Uint8Array(BLOCK);
  #used = 0;
  count = 0;
  size = 0;

  constructor(private readonly spill?: DirectorySpill) {}

  add(e: ZipEntrySpec & { offset: number }): void {
    const record = centralHeader(e, e.offset);
    if (this.#used + record.length > this.#block.length) {
      if (this.spill) this.spill.write(this.#block.subarray(0, this.#used));
      else {
        this.#blocks.push(this.#block.subarray(0, this.#used));
        this.#block = new Uint8Array(Math.max(BLOCK, record.length));
      }
      this.#used = 0;
    }
    this.#block.set(record, this.#used);
    this.#used += record.length;
    this.count++;
    this.size += record.length;
  }

  /** The blocks in order, ending with the partial one. */
  async *blocks(): AsyncGenerator<Uint8Array> {
    if (this.spill) yield* this.spill.readBack();
    yield* this.#blocks;
    yield this.#block.subarray(0, this.#used);
  }

  close(): void {
    this.spill?.close();
  }
}

interface Open {
  name: string;
  mode: number;
  offset: number;
  headerLength: number;
  crc: Crc32;
  size: number;
}

export class ZipWriter {
  readonly #sink: Sink;
  readonly #directory: DirectorySpool;
  /** Names so far, for the duplicate and case-fold checks; null when the caller checked them. */
  readonly #names: NameSet | null;
  #offset = 0;
  #current: Open | null = null;
  #state: "open" | "finished" | "aborted" | "failed" = "open";
  /** Headers and descriptors are built here (a Sink keeps no chunk after its write settles). */
  #scratch = new Uint8Array(2048);
  #view = new DataView(this.#scratch.buffer);

  /**
   * `checkNameSet: false` leaves the duplicate, case-fold and file/folder checks to the caller (a
   * packer that checked its whole input), so the writer keeps no set of names. `spill` takes the
   * central directory's full blocks until `finish` (the writer closes it).
   */
  constructor(sink: Sink, options: { checkNameSet?: boolean; spill?: DirectorySpill } = {}) {
    this.#sink = sink;
    this.#directory = new DirectorySpool(options.spill);
    this.#names = options.checkNameSet === false ? null : new NameSet();
  }

  /** Bytes written so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Entries completed so far. */
  get entryCount(): number {
    return this.#directory.count;
  }

  #check(wantEntry: boolean): void {
    if (this.#state !== "open") throw new Error(`ZipWriter: writer is ${this.#state}`);
    if (wantEntry && this.#current === null) throw new Error("ZipWriter: no entry is open");
    if (!wantEntry && this.#current !== null)
      throw new Error(`ZipWriter: entry "${this.#current.name}" is still open`);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      await this.#sink.write(bytes);
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
  }

  /**
   * Starts an entry: checks its name (SPEC §2 except the prefix rule, and against the names so far;
   * QcapError "format") and writes its local header.
   */
  async beginEntry(name: string, mode: number): Promise<void> {
    this.#check(false);
    if (!MODES.includes(mode))
      throw new RangeError(`ZipWriter: mode must be 0644 or 0755: 0o${mode.toString(8)}`);
    validateEntryName(name);
    this.#names?.add(name);
    const nameLength = utf8Length(name);
    const headerLength = LOCAL_HEADER_FIXED + nameLength;
    if (headerLength > this.#scratch.length) {
      this.#scratch = new Uint8Array(headerLength);
      this.#view = new DataView(this.#scratch.buffer);
    }
    localHeaderInto(this.#scratch, this.#view, 0, name, nameLength);
    this.#current = { name, mode, offset: this.#offset, headerLength, crc: createCrc32(), size: 0 };
    await this.#write(this.#scratch.subarray(0, headerLength));
    this.#offset += headerLength;
  }

  /**
   * Appends stored bytes to the open entry. `crc32`, when given, is the CRC-32 of `chunk` alone,
   * already computed (e.g. on another thread); it is combined instead of recomputed.
   */
  async write(chunk: Uint8Array, crc32?: number): Promise<void> {
    this.#check(true);
    const e = this.#current as Open;
    // Start the write first: the CRC is computed while the sink's I/O is in flight.
    const written = this.#write(chunk);
    if (crc32 === undefined) e.crc.update(chunk);
    else e.crc.append(crc32, chunk.length);
    e.size += chunk.length;
    await written;
    this.#offset += chunk.length;
  }

  /** Whether `writeDirect` can be used: the sink writes a local file (`Sink.writeAt`). */
  get canWriteDirect(): boolean {
    return this.#sink.writeAt !== undefined;
  }

  /**
   * Appends `length` stored bytes to the open entry that `fill` writes itself at (fd, position) of
   * the sink's file (see `Sink.writeAt`); `fill` resolves to their CRC-32.
   */
  async writeDirect(length: number, fill: (fd: number, position: number) => Promise<number>): Promise<void> {
    this.#check(true);
    const e = this.#current as Open;
    const writeAt = this.#sink.writeAt?.bind(this.#sink);
    if (!writeAt) throw new Error("ZipWriter: the sink cannot write directly");
    let crc = 0;
    try {
      await writeAt(length, async (fd, position) => {
        crc = await fill(fd, position);
      });
    } catch (err) {
      this.#state = "failed";
      throw err;
    }
    e.crc.append(crc, length);
    e.size += length;
    this.#offset += length;
  }

  /** Ends the open entry with its data descriptor. */
  async endEntry(): Promise<{ crc32: number; size: number }> {
    this.#check(true);
    const e = this.#current as Open;
    const crc32 = e.crc.digest();
    dataDescriptorInto(this.#view, 0, crc32, e.size);
    await this.#write(this.#scratch.subarray(0, DATA_DESCRIPTOR_SIZE));
    this.#offset += DATA_DESCRIPTOR_SIZE;
    this.#directory.add({ name: e.name, size: e.size, crc32, mode: e.mode, offset: e.offset });
    this.#current = null;
    return { crc32, size: e.size };
  }

  /** A whole entry at once. */
  async addEntry(name: string, mode: number, bytes: Uint8Array): Promise<{ crc32: number; size: number }> {
    await this.beginEntry(name, mode);
    await this.write(bytes);
    return this.endEntry();
  }

  /**
   * Whole entries whose stored bytes and CRC-32 are already known (e.g. a batch of small files), in
   * one sink write: the same bytes as `addEntry` of each, without a call and a write per record.
   * Returns the offset of each local header.
   */
  async addEntries(
    entries: readonly { name: string; mode: number; bytes: Uint8Array; crc32: number }[],
  ): Promise<number[]> {
    this.#check(false);
    const offsets: number[] = [];
    const nameLengths: number[] = [];
    let total = 0;
    for (const e of entries) {
      if (!MODES.includes(e.mode))
        throw new RangeError(`ZipWriter: mode must be 0644 or 0755: 0o${e.mode.toString(8)}`);
      validateEntryName(e.name);
      this.#names?.add(e.name);
      const n = utf8Length(e.name);
      nameLengths.push(n);
      total += LOCAL_HEADER_FIXED + n + e.bytes.length + DATA_DESCRIPTOR_SIZE;
    }
    const buf = new Uint8Array(total);
    const view = new DataView(buf.buffer);
    let pos = 0;
    entries.forEach((e, i) => {
      const offset = this.#offset + pos;
      offsets.push(offset);
      pos = localHeaderInto(buf, view, pos, e.name, nameLengths[i] as number);
      buf.set(e.bytes, pos);
      pos = dataDescriptorInto(view, pos + e.bytes.length, e.crc32, e.bytes.length);
      this.#directory.add({ name: e.name, size: e.bytes.length, crc32: e.crc32, mode: e.mode, offset });
    });
    await this.#write(buf);
    this.#offset += total;
    return offsets;
  }

  /** Writes the central directory and end records, then closes the sink. */
  async finish(): Promise<{ size: number }> {
    this.#check(false);
    const cd = this.#directory;
    const end = endRecords(cd.count, this.#offset, cd.size);
    try {
      for await (const block of cd.blocks()) if (block.length > 0) await this.#write(block);
    } finally {
      cd.close();
    }
    await this.#write(end);
    const size = this.#offset + cd.size + END_RECORDS_SIZE;
    this.#offset = size;
    try {
      await this.#sink.close();
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
    this.#state = "finished";
    return { size };
  }

  /** Abandons the archive: aborts the sink (a file sink removes its temporary file). */
  async abort(): Promise<void> {
    if (this.#state === "finished" || this.#state === "aborted") return;
    this.#state = "aborted";
    this.#current = null;
    this.#directory.close();
    await this.#sink.abort();
  }
}
