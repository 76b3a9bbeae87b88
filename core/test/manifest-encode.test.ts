/** The manifest encoder writes exactly the JCS text (RFC 8785) the generic encoder gives. */
import canonicalizeModule from "canonicalize";
import { describe, expect, it } from "vitest";
import { compareNames } from "../src/format/entries.js";
import { encodeManifest, type Manifest, type ManifestEntry } from "../src/v1/manifest.js";

const canonicalize = canonicalizeModule as unknown as (value: unknown) => string;
const text = (m: Manifest) => new TextDecoder().decode(encodeManifest(m));

const NAMES = [
  "payload/a.txt",
  'payload/quote"back\\slash',
  "payload/$&$'$`.bin",
  "payload/ünïcode/ß/日本.tif",
  "payload/emoji-😀",
  "payload/tab\there\u0001\u001f\u007f",
  'meta/"entries":[]',
  "payload/\u2028\u2029",
];

function entry(i: number, name: string): ManifestEntry {
  const e: ManifestEntry = {
    name,
    size: i * 65537 + (i % 3),
    mode: i % 2 ? 0o755 : 0o644,
    crc32: ((i * 2654435761) >>> 0).toString(16).padStart(8, "0"),
    digest: "ab".repeat(32),
  };
  if (i % 2) e.indexCrc32 = "0000abcd";
  return e;
}

const base = (entries: ManifestEntry[]): Manifest => ({
  qcap: 1,
  issuer: "11".repeat(32),
  chunkSize: 65536,
  entries,
  root: "22".repeat(32),
  seal: null,
});

describe("encodeManifest", () => {
  it("equals the generic JCS encoder on names that need escaping and entries with and without an index", () => {
    const m = base(NAMES.map((n, i) => entry(i, n)));
    expect(text(m)).toBe(canonicalize(m));
  });

  it("equals it for sealed manifests and for no entries", () => {
    const sealed: Manifest = {
      ...base([entry(3, "payload/x")]),
      seal: {
        aead: "xchacha20poly1305-stream-64k",
        capsuleId: "33".repeat(16),
        commitment: "44".repeat(32),
        recipients: [{ type: "x25519", kid: "k", epk: "e", body: "b" } as never],
        names: null,
      },
    };
    expect(text(sealed)).toBe(canonicalize(sealed));
    expect(text(base([]))).toBe(canonicalize(base([])));
  });

  it("falls back to the generic encoder for entries it does not know the shape of", () => {
    const odd = { ...entry(1, "payload/odd"), extra: { b: 1, a: 2 } } as ManifestEntry;
    const m = base([odd, { ...entry(2, "payload/n"), size: 1.5 }]);
    expect(text(m)).toBe(canonicalize(m));
  });
});

describe("compareNames", () => {
  const utf8Order = (a: string, b: string) => {
    const x = new TextEncoder().encode(a);
    const y = new TextEncoder().encode(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
    }
    return x.length - y.length;
  };
  it("orders names as their UTF-8 bytes do, across the BMP and astral planes", () => {
    const pieces = [
      "a",
      "b",
      "Z",
      "é",
      "ß",
      "\u00ff",
      "\u0800",
      "\ud7ff",
      "\ue000",
      "\uffff",
      "😀",
      "𐀀",
      "日",
      "/",
      "",
    ];
    let seed = 1;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const names = Array.from({ length: 400 }, () =>
      Array.from({ length: 1 + rnd(4) }, () => pieces[rnd(pieces.length)]).join(""),
    );
    for (let i = 0; i < names.length; i++) {
      for (let j = 0; j < names.length; j += 7) {
        const a = names[i] as string;
        const b = names[j] as string;
        expect(Math.sign(compareNames(a, b)), `${a} ${b}`).toBe(Math.sign(utf8Order(a, b)));
      }
    }
  });
});
