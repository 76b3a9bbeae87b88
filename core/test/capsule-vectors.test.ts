/**
 * Whole-capsule vectors (core/test-vectors/capsules.json) and chunk-tree vectors (tree.json).
 * Checked on every run; rewritten only with QCAP_WRITE_VECTORS=1 (a diff then means the format changed).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import { describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { blake3 } from "../src/hash/blake3.js";
import { fromHex, toHex } from "../src/hash/hex.js";
import { TreeBuilder } from "../src/integrity/tree.js";
import { memorySink } from "../src/io/sink.js";
import { bytesSource } from "../src/io/source.js";
import { encodeRecipient, parseRecipient, x25519PublicFromSecret } from "../src/keys/age.js";
import { bytesInput, pack } from "../src/capsule/pack.js";
import { plainChunks } from "../src/capsule/read.js";
import { masterEntryKeys, unlockMasterKey } from "../src/capsule/unlock.js";

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
  random: string[];
  expected: { size: number; blake3: string; root: string; manifest: string; signature: string; hex?: string };
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

async function expectedOf(
  v: Omit<CapsuleVector, "expected">,
  withHex: boolean,
): Promise<CapsuleVector["expected"]> {
  const bytes = await build(v);
  const c = await Capsule.open(bytesSource(bytes));
  return {
    size: bytes.length,
    blake3: toHex(blake3(bytes)),
    root: c.manifest.root,
    manifest: new TextDecoder().decode(c.manifestBytes),
    signature: toHex(c.signature),
    ...(withHex ? { hex: toHex(bytes) } : {}),
  };
}

const BASE: Omit<CapsuleVector, "expected">[] = [
  {
    description: "smallest capsule: one three-byte file, unsealed (full bytes in hex)",
    signingSeed: toHex(SEED),
    inputs: [{ name: "payload/a", mode: 420, utf8: "abc" }],
    recipients: [],
    random: [],
  },
  {
    description: "unsealed: a file with an index entry, a non-ASCII path, an executable and metadata",
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
    recipients: [encodeRecipient(x25519PublicFromSecret(IDENTITY))],
    random: [toHex(det("mk", 32)), toHex(det("id", 16)), toHex(det("eph", 32))],
  },
];

describe("capsule vectors", () => {
  const file = join(DIR, "capsules.json");
  it.runIf(WRITE)("writes capsules.json", async () => {
    const out = [];
    for (const [i, v] of BASE.entries()) out.push({ ...v, expected: await expectedOf(v, i === 0) });
    writeFileSync(
      file,
      `${JSON.stringify({ generator: "byte i of a 'pattern' input is i mod 251", identity: toHex(IDENTITY), vectors: out }, null, 2)}\n`,
    );
  });

  it("reproduces every capsule byte for byte", async () => {
    expect(existsSync(file)).toBe(true);
    const doc = JSON.parse(readFileSync(file, "utf8")) as { identity: string; vectors: CapsuleVector[] };
    expect(doc.vectors.length).toBe(3);
    for (const v of doc.vectors) {
      const bytes = await build(v);
      expect(toHex(blake3(bytes)), v.description).toBe(v.expected.blake3);
      if (v.expected.hex) expect(toHex(bytes)).toBe(v.expected.hex);
      const c = await Capsule.open(bytesSource(bytes));
      expect(c.manifest.root).toBe(v.expected.root);
      expect(new TextDecoder().decode(c.manifestBytes)).toBe(v.expected.manifest);
      await c.verifyAll();
      if (c.sealed) {
        const keys = masterEntryKeys(
          c,
          await unlockMasterKey(c, { identities: [fromHex(doc.identity, 32)] }),
        );
        for (const i of v.inputs) {
          const parts: Uint8Array[] = [];
          for await (const p of plainChunks(c, i.name, keys)) parts.push(p.slice());
          expect(Buffer.concat(parts)).toEqual(Buffer.from(bytesOf(i)));
        }
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
