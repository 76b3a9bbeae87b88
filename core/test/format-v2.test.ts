/** The format layer of version 2: manifest parsing, page records and their bounds, hidden names. */
import { x25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { wrapToX25519 } from "../src/crypto/recipients.js";
import { QcapError } from "../src/errors.js";
import { compareNames, packedMode, storedChunkSize } from "../src/format/entries.js";
import { hiddenZipName, openSealedName, sealName } from "../src/format/hidden-names.js";
import { encodeManifest, type Manifest, parseManifest } from "../src/format/manifest.js";
import {
  decodePage,
  encodeInterior,
  encodeLeaf,
  encodePage,
  type LeafRecord,
  MAX_PAGE_BYTES,
  treeShape,
} from "../src/format/pages.js";

const typed = (f: () => unknown, kind = "format"): QcapError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(QcapError);
    expect((e as QcapError).kind).toBe(kind);
    return e as QcapError;
  }
  throw new Error("expected a refusal");
};

const manifest = (over: Record<string, unknown> = {}): Manifest =>
  ({ qcap: 2, issuer: "ab".repeat(32), entries: 3, root: "cd".repeat(32), seal: null, ...over }) as Manifest;
const enc = (m: unknown) => new TextEncoder().encode(JSON.stringify(m));

const leaf = (name: string, over: Partial<LeafRecord> = {}): LeafRecord => ({
  name,
  size: 3,
  mode: 420,
  crc32: 0x352441c2,
  digest: new Uint8Array(32).fill(1),
  offset: 0,
  treeCrc32: 0,
  sealedName: new Uint8Array(0),
  ...over,
});

describe("manifest", () => {
  it("round-trips the canonical encoding and refuses anything else", () => {
    const m = manifest();
    expect(parseManifest(encodeManifest(m))).toEqual(m);
    expect(new TextDecoder().decode(encodeManifest(m))).toBe(
      `{"entries":3,"issuer":"${"ab".repeat(32)}","qcap":2,"root":"${"cd".repeat(32)}","seal":null}`,
    );
    typed(() => parseManifest(enc({ ...manifest(), chunkSize: 65536 })));
    const { root: _, ...missing } = manifest();
    typed(() => parseManifest(enc(missing)));
    typed(() => parseManifest(new TextEncoder().encode(` ${new TextDecoder().decode(encodeManifest(m))}`)));
    typed(() => parseManifest(encodeManifest(manifest({ entries: -1 }))));
    typed(() => parseManifest(encodeManifest(manifest({ entries: 2 ** 32 }))));
    typed(() => parseManifest(encodeManifest(manifest({ root: "CD".repeat(32) }))));
    expect(typed(() => parseManifest(encodeManifest(manifest({ qcap: 7 })))).message).toBe(
      "format version 7 is not supported by this release",
    );
  });

  it("checks the seal: hiddenNames is a boolean, no v1 names member", () => {
    const capsuleId = new Uint8Array(16).fill(3);
    const stanza = wrapToX25519(
      new Uint8Array(32).fill(5),
      capsuleId,
      x25519.getPublicKey(new Uint8Array(32).fill(6)),
    );
    const seal = {
      aead: "xchacha20poly1305-stream-64k",
      capsuleId: "03".repeat(16),
      commitment: "44".repeat(32),
      recipients: [stanza],
      hiddenNames: false,
    };
    expect(parseManifest(encodeManifest(manifest({ seal }))).seal?.hiddenNames).toBe(false);
    typed(() => parseManifest(encodeManifest(manifest({ seal: { ...seal, hiddenNames: "yes" } }))));
    typed(() => parseManifest(encodeManifest(manifest({ seal: { ...seal, names: null } }))));
    typed(() => parseManifest(encodeManifest(manifest({ seal: { ...seal, recipients: [] } }))));
  });

  it("refuses a manifest over 1 MiB", () => {
    expect(typed(() => parseManifest(new Uint8Array(1024 * 1024 + 1))).message).toMatch(/larger than 1 MiB/);
  });
});

describe("pages", () => {
  it("encodes and decodes leaf and interior pages exactly", () => {
    const bytes = encodePage(0, [encodeLeaf(leaf("meta/x")), encodeLeaf(leaf("payload/a", { mode: 493 }))]);
    expect(bytes[0]).toBe(0);
    expect(bytes[1] | ((bytes[2] as number) << 8)).toBe(2);
    const p = decodePage(bytes, "page");
    expect(p.records).toEqual([leaf("meta/x"), leaf("payload/a", { mode: 493 })]);
    const interior = encodePage(1, [
      encodeInterior({ first: "meta/x", offset: 5, length: 9, hash: new Uint8Array(32).fill(2) }),
    ]);
    expect(decodePage(interior, "page").records).toEqual([
      { first: "meta/x", offset: 5, length: 9, hash: new Uint8Array(32).fill(2) },
    ]);
    // Level byte, u16 count, then per leaf: u16 name length, name, u64 size, u16 mode, u32 crc, digest,
    // u64 offset, u32 tree crc, u16 sealed name length, sealed name.
    expect(encodeLeaf(leaf("payload/a")).length).toBe(2 + 9 + 8 + 2 + 4 + 32 + 8 + 4 + 2);
    expect(
      encodeInterior({ first: "payload/a", offset: 0, length: 0, hash: new Uint8Array(32) }).length,
    ).toBe(2 + 9 + 8 + 4 + 32);
  });

  it("refuses out-of-bounds pages", () => {
    const one = encodeLeaf(leaf("payload/a"));
    typed(() => decodePage(new Uint8Array(2), "p")); // shorter than its header
    typed(() => decodePage(Uint8Array.of(...encodePage(0, [one]), 0), "p")); // a byte after the last record
    typed(() => decodePage(encodePage(0, [one]).subarray(0, 20), "p")); // truncated record
    typed(() => decodePage(encodePage(4, []), "p")); // level out of bounds
    const many = encodePage(0, []);
    many[1] = 0x01;
    many[2] = 0x04; // count 1025
    typed(() => decodePage(many, "p"));
    typed(() => decodePage(encodePage(0, [encodeLeaf(leaf("payload/a", { mode: 0o777 }))]), "p"));
    typed(() => decodePage(encodePage(0, [encodeLeaf(leaf("index/payload/a"))]), "p")); // not content
    typed(() => decodePage(encodePage(0, [encodeLeaf(leaf("payload/../a"))]), "p"));
    typed(() => decodePage(encodePage(0, [one, one]), "p")); // not strictly increasing
    typed(() => decodePage(new Uint8Array(MAX_PAGE_BYTES + 1), "p"));
    typed(() => decodePage(encodePage(1, [one]), "p", 0));
  });

  it("has a shape fixed by the entry count", () => {
    expect(treeShape(0)).toEqual([1]);
    expect(treeShape(1)).toEqual([1]);
    expect(treeShape(1024)).toEqual([1]);
    expect(treeShape(1025)).toEqual([2, 1]);
    expect(treeShape(1024 * 1024)).toEqual([1024, 1]);
    expect(treeShape(1024 * 1024 + 1)).toEqual([1025, 2, 1]);
    expect(treeShape(1_000_000)).toEqual([977, 1]);
  });
});

describe("entries and names", () => {
  it("orders by UTF-8 bytes, maps modes and chunk sizes", () => {
    // U+FF5E (3 UTF-8 bytes, EF BD 9E) sorts before U+1F600 (4 bytes, F0 …), though UTF-16 says otherwise.
    expect(compareNames("payload/\uff5e", "payload/\u{1f600}")).toBeLessThan(0);
    expect(compareNames("meta/z", "payload/a")).toBeLessThan(0);
    expect([0o600, 0o644, 0o700, 0o701, 0o710, 0o755].map(packedMode)).toEqual([
      420, 420, 493, 493, 493, 493,
    ]);
    expect(storedChunkSize("payload/a", true)).toBe(65552);
    expect(storedChunkSize("meta/a", true)).toBe(65536);
    expect(storedChunkSize("payload/a", false)).toBe(65536);
  });

  it("seals hidden names and refuses one that does not match its name id", () => {
    const key = new Uint8Array(32).fill(9);
    const { zipName, sealedName } = sealName(key, "payload/dir/été.txt");
    expect(zipName).toBe(hiddenZipName(key, "payload/dir/été.txt"));
    expect(zipName).toMatch(/^payload\/[0-9a-f]{32}$/);
    expect(sealedName.length).toBe(new TextEncoder().encode("payload/dir/été.txt").length + 16);
    expect(openSealedName(key, zipName, sealedName)).toBe("payload/dir/été.txt");
    // The sealed name of another entry, or under another key: refused.
    const other = sealName(key, "payload/b");
    typed(() => openSealedName(key, zipName, other.sealedName), "decrypt");
    typed(() => openSealedName(new Uint8Array(32), zipName, sealedName), "decrypt");
  });
});
