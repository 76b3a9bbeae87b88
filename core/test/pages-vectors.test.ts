/**
 * Index page vectors (core/test-vectors/pages.json): the pages of unsealed capsules of 0, 1, 3 and
 * 1030 entries (two levels), with their bytes, places and hashes. Checked on every run; rewritten
 * only with QCAP_WRITE_VECTORS=1.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import { describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput, pack } from "../src/capsule/pack.js";
import { decodePage, treeShape } from "../src/format/pages.js";
import { blake3 } from "../src/hash/blake3.js";
import { toHex } from "../src/hash/hex.js";
import { memorySink } from "../src/io/sink.js";
import { bytesSource } from "../src/io/source.js";
import { readCentralDirectory, readEntryData } from "../src/zip/reader.js";

const DIR = join(import.meta.dirname, "..", "test-vectors");
const WRITE = process.env.QCAP_WRITE_VECTORS === "1";
const SEED = nobleBlake3(new TextEncoder().encode("qcap capsule vectors: signing seed"), { dkLen: 32 });

function pattern(length: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = i % 251;
  return b;
}

interface Case {
  description: string;
  /** Entries `payload/f0000`… holding `pattern(i)`, or the listed UTF-8 files. */
  generated?: number;
  files?: { name: string; utf8: string }[];
}

const CASES: Case[] = [
  { description: "empty capsule: one level-0 page with 0 records, the root", files: [] },
  { description: "one entry", files: [{ name: "payload/a", utf8: "abc" }] },
  {
    description: "three entries, meta/ before payload/ (UTF-8 byte order of the ZIP names)",
    files: [
      { name: "payload/b", utf8: "bb" },
      { name: "payload/a", utf8: "a" },
      { name: "meta/m.json", utf8: "{}" },
    ],
  },
  {
    description:
      "two levels: entries payload/f0000 … payload/f1029 (4 decimal digits), entry i holding pattern(i) (i bytes)",
    generated: 1030,
  },
];

const inputsOf = (c: Case) =>
  c.generated !== undefined
    ? Array.from({ length: c.generated }, (_, i) =>
        bytesInput(`payload/f${String(i).padStart(4, "0")}`, pattern(i)),
      )
    : (c.files ?? []).map((f) => bytesInput(f.name, new TextEncoder().encode(f.utf8)));

async function expectedOf(c: Case) {
  const sink = memorySink();
  await pack(inputsOf(c), sink, { signingKey: { seed: SEED, publicKey: ed25519.getPublicKey(SEED) } });
  const bytes = sink.bytes();
  const src = bytesSource(bytes);
  const capsule = await Capsule.open(src);
  await capsule.verifyAll();
  const cd = await readCentralDirectory(src);
  const pages = [];
  for (const e of cd.entries.filter((x) => x.name.startsWith("pages/"))) {
    const data = await readEntryData(src, e);
    const page = decodePage(data, e.name);
    pages.push({
      name: e.name,
      level: page.level,
      count: page.records.length,
      offset: e.offset,
      length: data.length,
      blake3: toHex(blake3(data)),
      // Whole bytes for the small cases and every page above level 0.
      ...(c.generated === undefined || page.level > 0 ? { hex: toHex(data) } : {}),
    });
  }
  return {
    entries: capsule.manifest.entries,
    shape: treeShape(capsule.manifest.entries),
    pages,
    root: capsule.manifest.root,
    manifest: new TextDecoder().decode(capsule.manifestBytes),
    size: bytes.length,
    blake3: toHex(blake3(bytes)),
  };
}

describe("page vectors", () => {
  const file = join(DIR, "pages.json");
  it.runIf(WRITE)("writes pages.json", async () => {
    const out = [];
    for (const c of CASES) out.push({ ...c, expected: await expectedOf(c) });
    const doc = {
      generator:
        "byte i of pattern(n) is i mod 251; capsules unsealed, signed with the seed of capsules.json",
      signingSeed: toHex(SEED),
      pageNames: "pages/root for the root; pages/<level>/<position within the level, from 1, 8 digits>",
      vectors: out,
    };
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  });

  it("reproduces every page, the tree's shape and the root", async () => {
    expect(existsSync(file)).toBe(true);
    const doc = JSON.parse(readFileSync(file, "utf8")) as { vectors: (Case & { expected: unknown })[] };
    expect(doc.vectors.map((v) => v.description)).toEqual(CASES.map((c) => c.description));
    for (const v of doc.vectors) expect(await expectedOf(v), v.description).toEqual(v.expected);
    // The two-level case: two full-size leaf pages (1024 and 6 records) in post-order, then the root.
    const two = doc.vectors[3]?.expected as Awaited<ReturnType<typeof expectedOf>>;
    expect(two.shape).toEqual([2, 1]);
    expect(two.pages.map((p) => [p.name, p.level, p.count])).toEqual([
      ["pages/0/00000001", 0, 1024],
      ["pages/0/00000002", 0, 6],
      ["pages/root", 1, 2],
    ]);
    // `unzip -p c.qcap pages/root | b3sum` prints the root.
    for (const v of doc.vectors) {
      const e = v.expected as Awaited<ReturnType<typeof expectedOf>>;
      expect(e.pages[e.pages.length - 1]?.blake3).toBe(e.root);
    }
  });
});
