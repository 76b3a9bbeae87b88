/**
 * Whole-capsule vectors (core/test-vectors/capsules.json, format 2; capsules-v1.json, read through the
 * version 1 adaptor) and chunk-tree vectors (tree.json).
 * Checked on every run; rewritten only with QCAP_WRITE_VECTORS=1 (a diff then means the format changed).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import { describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput, pack } from "../src/capsule/pack.js";
import { plainChunks, readRange } from "../src/capsule/read.js";
import { masterEntryKeys, unlockMasterKey } from "../src/capsule/unlock.js";
import { QcapError } from "../src/errors.js";
import type { LeafRecord } from "../src/format/pages.js";
import { blake3 } from "../src/hash/blake3.js";
import { fromHex, toHex } from "../src/hash/hex.js";
import { TreeBuilder } from "../src/integrity/tree.js";
import { memorySink } from "../src/io/sink.js";
import { bytesSource } from "../src/io/source.js";
import { encodeRecipient, parseRecipient, x25519PublicFromSecret } from "../src/keys/age.js";
import { readCentralDirectory, readEntryData } from "../src/zip/reader.js";

const DIR = join(import.meta.dirname, "..", "test-vectors");
const WRITE = process.env.QCAP_WRITE_VECTORS === "1";
const det = (label: string, n: number) => nobleBlake3(new TextEncoder().encode(label), { dkLen: n });

/** Content generator shared by the vectors: byte i is i mod 251. */
function pattern(length: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = i % 251;
  return b;
}

interface InputSpec {
  name: string;
  mode: number;
  utf8?: string;
  pattern?: number;
}
const bytesOf = (i: InputSpec) =>
  i.utf8 !== undefined ? new TextEncoder().encode(i.utf8) : pattern(i.pattern ?? 0);

const INPUTS: InputSpec[] = [
  { name: "payload/hello.txt", mode: 420, utf8: "hello\n" },
  { name: "payload/données/été.bin", mode: 493, pattern: 3 * 65536 + 5 },
  { name: "meta/item.json", mode: 420, utf8: '{"type":"Feature"}' },
];
const SEED = det("qcap capsule vectors: signing seed", 32);
const IDENTITY = det("qcap capsule vectors: x25519 identity", 32);

interface CapsuleVector {
  description: string;
  signingSeed: string;
  inputs: InputSpec[];
  recipients: string[];
  hideNames?: boolean;
  random: string[];
  expected: {
    size: number;
    blake3: string;
    root: string;
    manifest: string;
    signature: string;
    /** ZIP names in file order. */
    zipNames: string[];
    rootPage: string;
    /** The leaf records, decoded, in index order. */
    records: Record<string, unknown>[];
    /** Real names by ZIP name, with hidden names. */
    realNames?: Record<string, string>;
    hex?: string;
  };
}

async function build(v: Omit<CapsuleVector, "expected">): Promise<Uint8Array> {
  const random = v.random.map((h) => fromHex(h));
  const sink = memorySink();
  const seed = fromHex(v.signingSeed, 32);
  await pack(
    v.inputs.map((i) => bytesInput(i.name, bytesOf(i), i.mode)),
    sink,
    {
      signingKey: { seed, publicKey: ed25519.getPublicKey(seed) },
      recipients: v.recipients.map(parseRecipient),
      hideNames: v.hideNames === true,
      random: (n) => {
        const next = random.shift();
        if (!next || next.length !== n)
          throw new Error("vector random values do not match the packer's needs");
        return next;
      },
    },
  );
  return sink.bytes();
}

const recordJson = (r: LeafRecord): Record<string, unknown> => ({
  name: r.name,
  size: r.size,
  mode: r.mode,
  crc32: r.crc32,
  digest: toHex(r.digest),
  offset: r.offset,
  treeCrc32: r.treeCrc32,
  sealedName: toHex(r.sealedName),
});

async function expectedOf(
  v: Omit<CapsuleVector, "expected">,
  withHex: boolean,
): Promise<CapsuleVector["expected"]> {
  const bytes = await build(v);
  const c = await Capsule.open(bytesSource(bytes));
  const cd = await readCentralDirectory(bytesSource(bytes));
  const rootEntry = cd.entries[cd.entries.length - 3] as (typeof cd.entries)[number];
  const rootPage = await readEntryData(bytesSource(bytes), rootEntry);
  const records: Record<string, unknown>[] = [];
  for await (const e of c.entries())
    records.push(
      recordJson({
        name: e.name,
        size: e.size,
        mode: e.mode,
        crc32: e.placed.crc32,
        digest: e.digest,
        offset: e.placed.offset,
        treeCrc32: e.index?.crc32 ?? 0,
        sealedName: e.sealedName,
      }),
    );
  let realNames: Record<string, string> | undefined;
  if (v.hideNames) {
    const master = await unlockMasterKey(c, { identities: [IDENTITY] });
    realNames = Object.fromEntries(await c.realNames(master));
  }
  return {
    size: bytes.length,
    blake3: toHex(blake3(bytes)),
    root: c.manifest.root,
    manifest: new TextDecoder().decode(c.manifestBytes),
    signature: toHex(c.signature),
    zipNames: cd.entries.map((e) => e.name),
    rootPage: toHex(rootPage),
    records,
    ...(realNames ? { realNames } : {}),
    ...(withHex ? { hex: toHex(bytes) } : {}),
  };
}

const RECIPIENT = () => encodeRecipient(x25519PublicFromSecret(IDENTITY));
const RANDOM = () => [toHex(det("mk", 32)), toHex(det("id", 16)), toHex(det("eph", 32))];
const SMALL: InputSpec[] = [
  { name: "payload/hello.txt", mode: 420, utf8: "hello\n" },
  { name: "payload/données/été.bin", mode: 493, pattern: 100 },
  { name: "payload/Zeta/b.txt", mode: 420, utf8: "b" },
  { name: "meta/item.json", mode: 420, utf8: '{"type":"Feature"}' },
];

/** Vectors whose whole file is given in hex (small ones). */
const WITH_HEX = new Set([0, 3, 5]);
const BASE: Omit<CapsuleVector, "expected">[] = [
  {
    description: "smallest capsule: one three-byte file, unsealed (full bytes in hex)",
    signingSeed: toHex(SEED),
    inputs: [{ name: "payload/a", mode: 420, utf8: "abc" }],
    recipients: [],
    random: [],
  },
  {
    description: "unsealed: a file with a chunk tree entry, a non-ASCII path, an executable and metadata",
    signingSeed: toHex(SEED),
    inputs: INPUTS,
    recipients: [],
    random: [],
  },
  {
    description:
      "sealed to one X25519 recipient; random values in order: master key, capsule id, ephemeral secret",
    signingSeed: toHex(SEED),
    inputs: INPUTS,
    recipients: [RECIPIENT()],
    random: RANDOM(),
  },
  {
    description:
      "sealed with hidden names: payload/ + hex(BLAKE3-keyed(namesKey, real name)[0:16]), real names sealed in the leaf records (full bytes in hex)",
    signingSeed: toHex(SEED),
    inputs: SMALL,
    recipients: [RECIPIENT()],
    hideNames: true,
    random: RANDOM(),
  },
  {
    description:
      "sealed with a multi-chunk meta/ entry: meta/ is never encrypted and uses chunk size 65536 (payload/ uses 65552)",
    signingSeed: toHex(SEED),
    inputs: [
      { name: "payload/a", mode: 420, utf8: "abc" },
      { name: "meta/big.bin", mode: 420, pattern: 2 * 65536 + 7 },
    ],
    recipients: [RECIPIENT()],
    random: RANDOM(),
  },
  {
    description:
      "modes: input permission bits with any execute bit (mode & 0o111) pack as 493, others as 420 (full bytes in hex)",
    signingSeed: toHex(SEED),
    inputs: [
      { name: "payload/m600", mode: 0o600, utf8: "a" },
      { name: "payload/m644", mode: 0o644, utf8: "b" },
      { name: "payload/m700", mode: 0o700, utf8: "c" },
      { name: "payload/m701", mode: 0o701, utf8: "d" },
      { name: "payload/m710", mode: 0o710, utf8: "e" },
    ],
    recipients: [],
    random: [],
  },
];

/** Input name sets a packer must refuse as input errors (exit 2): names that clash after lowercasing. */
const REFUSED: { description: string; names: string[] }[] = [
  { description: "case collision", names: ["payload/A", "payload/a"] },
  { description: "a file and a folder after lowercasing", names: ["payload/A", "payload/a/b"] },
  { description: "a file and a folder", names: ["payload/a", "payload/a/b"] },
  { description: "the same name twice", names: ["payload/x", "payload/x"] },
];

describe("capsule vectors", () => {
  const file = join(DIR, "capsules.json");
  it.runIf(WRITE)("writes capsules.json", async () => {
    const out = [];
    for (const [i, v] of BASE.entries()) out.push({ ...v, expected: await expectedOf(v, WITH_HEX.has(i)) });
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          format: 2,
          generator: "byte i of a 'pattern' input is i mod 251; input modes are file system permission bits",
          identity: toHex(IDENTITY),
          vectors: out,
          refused: REFUSED,
        },
        null,
        2,
      )}\n`,
    );
  });

  it("reproduces every capsule byte for byte", async () => {
    expect(existsSync(file)).toBe(true);
    const doc = JSON.parse(readFileSync(file, "utf8")) as {
      identity: string;
      vectors: CapsuleVector[];
      refused: typeof REFUSED;
    };
    expect(doc.vectors.length).toBe(BASE.length);
    for (const [i, v] of doc.vectors.entries()) {
      const { expected, ...spec } = v;
      expect(await expectedOf(spec, WITH_HEX.has(i)), v.description).toEqual(expected);
      const c = await Capsule.open(bytesSource(await build(spec)));
      await c.verifyAll();
      const keys = c.sealed
        ? masterEntryKeys(c, await unlockMasterKey(c, { identities: [fromHex(doc.identity, 32)] }))
        : undefined;
      const names = new Map(Object.entries(v.expected.realNames ?? {}).map(([zip, real]) => [real, zip]));
      for (const input of v.inputs) {
        const parts: Uint8Array[] = [];
        for await (const p of plainChunks(c, names.get(input.name) ?? input.name, keys))
          parts.push(p.slice());
        expect(Buffer.concat(parts)).toEqual(Buffer.from(bytesOf(input)));
      }
    }
    for (const r of doc.refused) {
      const inputs = r.names.map((n) => bytesInput(n, new Uint8Array(0)));
      const err = await pack(inputs, memorySink(), {
        signingKey: { seed: SEED, publicKey: ed25519.getPublicKey(SEED) },
      }).catch((e: unknown) => e);
      expect(err, r.description).toBeInstanceOf(QcapError);
      expect((err as QcapError).exitCode).toBe(2);
    }
  });
});

describe("version 1 capsules", () => {
  it("are read through the version 1 adaptor: verified, every input read back", async () => {
    const doc = JSON.parse(readFileSync(join(DIR, "capsules-v1.json"), "utf8")) as {
      identity: string;
      vectors: (Omit<CapsuleVector, "expected"> & {
        expected: { blake3: string; root: string; manifest: string; hex: string };
      })[];
    };
    expect(doc.vectors.length).toBe(3);
    for (const v of doc.vectors) {
      const bytes = fromHex(v.expected.hex);
      expect(toHex(blake3(bytes))).toBe(v.expected.blake3);
      const c = await Capsule.open(bytesSource(bytes));
      expect(c.version).toBe(1);
      expect(c.manifest.root).toBe(v.expected.root);
      expect(new TextDecoder().decode(c.manifestBytes)).toBe(v.expected.manifest);
      await c.verifyAll();
      const keys = c.sealed
        ? masterEntryKeys(c, await unlockMasterKey(c, { identities: [fromHex(doc.identity, 32)] }))
        : undefined;
      for (const i of v.inputs) {
        const parts: Uint8Array[] = [];
        for await (const p of plainChunks(c, i.name, keys)) parts.push(p.slice());
        expect(Buffer.concat(parts)).toEqual(Buffer.from(bytesOf(i)));
        const size = bytesOf(i).length;
        expect(await readRange(c, i.name, 1, 5, keys)).toEqual(bytesOf(i).subarray(1, Math.min(size, 6)));
      }
    }
  });
});

describe("chunk tree vectors", () => {
  const file = join(DIR, "tree.json");
  const sizes = [0, 1, 65536, 65537, 1024 * 65536 + 1];
  const treeOf = (n: number) => {
    const data = pattern(n);
    const t = new TreeBuilder(65536);
    for (let o = 0; o === 0 || o < n; o += 65536) t.pushChunk(data.subarray(o, Math.min(n, o + 65536)));
    const { digest, index } = t.finish();
    return {
      size: n,
      digest: toHex(digest),
      indexLength: index?.length ?? 0,
      indexBlake3: index ? toHex(blake3(index)) : null,
    };
  };
  it.runIf(WRITE)("writes tree.json", () => {
    writeFileSync(
      file,
      `${JSON.stringify({ chunkSize: 65536, generator: "byte i is i mod 251", vectors: sizes.map(treeOf) }, null, 2)}\n`,
    );
  });
  it("reproduces digests and index entries", () => {
    const doc = JSON.parse(readFileSync(file, "utf8")) as { vectors: ReturnType<typeof treeOf>[] };
    expect(doc.vectors.map((v) => v.size)).toEqual(sizes);
    for (const v of doc.vectors) expect(treeOf(v.size)).toEqual(v);
    // A single-chunk entry's digest is what b3sum prints for the file.
    expect(doc.vectors[1]?.digest).toBe(toHex(nobleBlake3(pattern(1))));
  });
});
