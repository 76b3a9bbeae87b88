/**
 * Builds version 2 capsules record by record with hooks that break one rule at a time (a page that
 * lies, entries out of order, a count that is wrong…), then signs the result, so tests can check
 * that readers refuse what a correct packer never writes even when the signature is valid.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import canonicalizeModule from "canonicalize";
import { Capsule } from "../src/capsule/capsule.js";
import {
  encodeInterior,
  encodeLeaf,
  encodePage,
  type InteriorRecord,
  type LeafRecord,
  PAGE_FANOUT,
  pageName,
  ROOT_PAGE_NAME,
} from "../src/format/pages.js";
import { blake3 } from "../src/hash/blake3.js";
import { crc32 } from "../src/hash/crc32.js";
import { toHex } from "../src/hash/hex.js";
import { bytesSource } from "../src/io/source.js";
import {
  centralDirectory,
  DATA_DESCRIPTOR_SIZE,
  dataDescriptor,
  endRecords,
  LOCAL_HEADER_FIXED,
  localHeader,
  type ZipEntrySpec,
} from "../src/zip/layout.js";
import { utf8Length } from "../src/zip/names.js";
import { signingKey } from "./helpers.js";

const canonicalize = canonicalizeModule as unknown as (x: unknown) => string;

/** One content entry: its leaf record (offset and CRCs are filled in), stored bytes and tree. */
export interface CraftEntry {
  record: LeafRecord;
  data: Uint8Array;
  tree: Uint8Array | null;
}

export interface CraftHooks {
  /** Changes a leaf record after its offset and CRCs are set (`i`: position in the list). */
  leaf?: (r: LeafRecord, i: number) => void;
  /** Leaves entry `i`'s bytes in the archive but its record out of the index. */
  omitRecord?: (i: number) => boolean;
  /** Changes a child page's record in its parent, after its hash is computed. */
  interior?: (r: InteriorRecord, level: number, position: number) => void;
  /** Changes a page's bytes after it is encoded (its parent hashes the changed bytes). */
  page?: (bytes: Uint8Array, level: number, position: number, root: boolean) => Uint8Array;
  /** Changes the manifest object before it is encoded and signed. */
  manifest?: (m: Record<string, unknown>) => void;
}

/** The content entries of a good capsule, in index order, with their bytes. */
export async function entriesOf(capsuleBytes: Uint8Array): Promise<CraftEntry[]> {
  const c = await Capsule.open(bytesSource(capsuleBytes));
  const out: CraftEntry[] = [];
  for await (const e of c.entries()) {
    const data = capsuleBytes.slice(e.placed.dataOffset, e.placed.dataOffset + e.stored);
    const tree = e.index ? capsuleBytes.slice(e.index.dataOffset, e.index.dataOffset + e.index.size) : null;
    out.push({
      record: {
        name: e.name,
        size: e.size,
        mode: e.mode,
        crc32: e.placed.crc32,
        digest: e.digest,
        offset: e.placed.offset,
        treeCrc32: e.index?.crc32 ?? 0,
        sealedName: e.sealedName,
      },
      data,
      tree,
    });
  }
  return out;
}

/** Lays the entries out as a version 2 capsule (post-order pages), applying `hooks`, and signs it. */
export function assemble(
  entries: readonly CraftEntry[],
  hooks: CraftHooks = {},
  base: { seal?: unknown } = {},
  key = signingKey(),
): Uint8Array {
  const parts: Uint8Array[] = [];
  const cd: (ZipEntrySpec & { offset: number })[] = [];
  let offset = 0;
  const put = (name: string, bytes: Uint8Array, mode = 0o644): number => {
    const at = offset;
    const crc = crc32(bytes);
    parts.push(localHeader(name), bytes, dataDescriptor(crc, bytes.length));
    cd.push({ name, size: bytes.length, crc32: crc, mode, offset: at });
    offset += LOCAL_HEADER_FIXED + utf8Length(name) + bytes.length + DATA_DESCRIPTOR_SIZE;
    return at;
  };
  const levels: { records: Uint8Array[]; first: string | null; written: number }[] = [];
  const open = (level: number) => {
    levels[level] ??= { records: [], first: null, written: 0 };
    return levels[level];
  };
  const flush = (level: number, root: boolean): Uint8Array => {
    const p = open(level);
    p.written++;
    let bytes = encodePage(level, p.records);
    bytes = hooks.page ? hooks.page(bytes, level, p.written, root) : bytes;
    const at = put(root ? ROOT_PAGE_NAME : pageName(level, p.written), bytes);
    const first = p.first as string;
    p.records = [];
    p.first = null;
    if (!root) {
      const r: InteriorRecord = { first, offset: at, length: bytes.length, hash: blake3(bytes) };
      hooks.interior?.(r, level, p.written);
      const parent = open(level + 1);
      if (parent.records.length === PAGE_FANOUT) flush(level + 1, false);
      parent.first ??= first;
      parent.records.push(encodeInterior(r));
    }
    return bytes;
  };
  open(0);
  entries.forEach((e, i) => {
    if (open(0).records.length === PAGE_FANOUT) flush(0, false);
    const r: LeafRecord = {
      ...e.record,
      crc32: crc32(e.data),
      offset: put(e.record.name, e.data, e.record.mode),
    };
    r.treeCrc32 = e.tree ? crc32(e.tree) : 0;
    if (e.tree) put(`index/${e.record.name}`, e.tree);
    hooks.leaf?.(r, i);
    if (hooks.omitRecord?.(i)) return;
    open(0).first ??= r.name;
    open(0).records.push(encodeLeaf(r));
  });
  let rootPage: Uint8Array;
  for (let level = 0; ; level++) {
    if (open(level).written === 0) {
      rootPage = flush(level, true);
      break;
    }
    flush(level, false);
  }
  const m: Record<string, unknown> = {
    qcap: 2,
    issuer: toHex(key.publicKey),
    entries: entries.length,
    root: toHex(blake3(rootPage)),
    seal: base.seal ?? null,
  };
  hooks.manifest?.(m);
  const mBytes = new TextEncoder().encode(canonicalize(m));
  put("manifest.json", mBytes);
  put("signatures/manifest.ed25519", ed25519.sign(mBytes, key.seed));
  const dir = centralDirectory(cd);
  parts.push(dir, endRecords(cd.length, offset, dir.length));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Unsealed content entries of one chunk each, named `payload/f0000`… */
export function smallEntries(n: number, prefix = "payload/f"): CraftEntry[] {
  const out: CraftEntry[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${prefix}${String(i).padStart(4, "0")}`;
    const data = new TextEncoder().encode(`file ${i}\n`);
    out.push({
      record: {
        name,
        size: data.length,
        mode: 0o644,
        crc32: 0,
        digest: blake3(data),
        offset: 0,
        treeCrc32: 0,
        sealedName: new Uint8Array(0),
      },
      data,
      tree: null,
    });
  }
  return out;
}
