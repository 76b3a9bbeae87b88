import { describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput } from "../src/capsule/pack.js";
import { plainChunks, readRange } from "../src/capsule/read.js";
import { masterEntryKeys, realNames, unlockMasterKey } from "../src/capsule/unlock.js";
import { QcapError } from "../src/errors.js";
import { encodeManifest, parseManifest } from "../src/format/manifest.js";
import { blake3 } from "../src/hash/blake3.js";
import { toHex } from "../src/hash/hex.js";
import { bytesSource } from "../src/io/source.js";
import { generateIdentity, x25519PublicFromSecret } from "../src/keys/age.js";
import { openBytes, packBytes, pseudoRandom, sampleInputs, signingKey, text } from "./helpers.js";

async function readAll(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of gen) parts.push(p.slice());
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function expectFailure(p: Promise<unknown>, kind?: string, message?: RegExp) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, "expected a failure").toBeInstanceOf(QcapError);
  if (kind) expect((err as QcapError).kind).toBe(kind);
  if (message) expect((err as QcapError).message).toMatch(message);
}

describe("unsealed capsules", () => {
  it("round-trips every entry and verifies", async () => {
    const bytes = await packBytes(sampleInputs());
    const c = await openBytes(bytes);
    expect(c.sealed).toBe(false);
    await c.verifyAll();
    for (const input of sampleInputs()) {
      const want = await readAll(input.read());
      expect(await readAll(plainChunks(c, input.name))).toEqual(want);
    }
    // One index order for all content entries: UTF-8 bytes of the ZIP names (meta/ before payload/).
    expect((await c.allEntries()).map((e) => e.name)).toEqual([
      "meta/stac.json",
      "payload/data/big.bin",
      "payload/empty",
      "payload/readme.txt",
    ]);
    expect(c.manifest.entries).toBe(4);
  });

  it("is deterministic: the same inputs give byte-identical capsules", async () => {
    const a = await packBytes(sampleInputs());
    const b = await packBytes(sampleInputs());
    expect(toHex(blake3(a))).toBe(toHex(blake3(b)));
  });

  it("lists a single-chunk entry digest that b3sum would print", async () => {
    const c = await openBytes(await packBytes(sampleInputs()));
    expect(toHex((await c.entry("payload/readme.txt")).digest)).toBe(toHex(blake3(text("hello capsule\n"))));
  });

  it("serves verified byte ranges across chunk boundaries", async () => {
    const data = pseudoRandom(5 * 65536 + 17, 3);
    const c = await openBytes(await packBytes([bytesInput("payload/r.bin", data)]));
    for (const [off, len] of [
      [0, 10],
      [65530, 20],
      [65536, 65536],
      [3 * 65536 - 1, 2 * 65536 + 18],
      [5 * 65536 + 16, 1],
      [5 * 65536 + 17, 5],
    ] as const) {
      expect(await readRange(c, "payload/r.bin", off, len)).toEqual(data.subarray(off, off + len));
    }
  });

  it("accepts an empty capsule", async () => {
    const c = await openBytes(await packBytes([]));
    await c.verifyAll();
    expect(c.manifest.entries).toBe(0);
    expect(await c.allEntries()).toEqual([]);
  });
});

describe("sealed capsules", () => {
  const id = generateIdentity().secret;
  const other = generateIdentity().secret;

  it("opens with the recipient's identity and hides plaintext digests", async () => {
    const inputs = sampleInputs();
    const bytes = await packBytes(inputs, { recipients: [x25519PublicFromSecret(id)] });
    const c = await openBytes(bytes);
    expect(c.sealed).toBe(true);
    await c.verifyAll();
    const keys = masterEntryKeys(c, await unlockMasterKey(c, { identities: [id] }));
    for (const input of inputs) {
      const plain = await readAll(input.read());
      expect(await readAll(plainChunks(c, input.name, keys))).toEqual(plain);
      if (input.name.startsWith("payload/")) {
        expect(new TextDecoder().decode(c.manifestBytes)).not.toContain(toHex(blake3(plain)));
      }
    }
  });

  it("refuses a wrong identity", async () => {
    const c = await openBytes(await packBytes(sampleInputs(), { recipients: [x25519PublicFromSecret(id)] }));
    await expectFailure(unlockMasterKey(c, { identities: [other] }), "decrypt");
  });

  it("opens with a passphrase and refuses a wrong one", async () => {
    const bytes = await packBytes(sampleInputs(), {
      passphrase: "correct horse",
      argon2: { m: 1024, t: 1, p: 1 },
    });
    const c = await openBytes(bytes);
    const keys = masterEntryKeys(c, await unlockMasterKey(c, { passphrase: "correct horse" }));
    expect(await readAll(plainChunks(c, "payload/readme.txt", keys))).toEqual(text("hello capsule\n"));
    await expectFailure(unlockMasterKey(c, { passphrase: "wrong" }), "decrypt");
  });

  it("hides names and recovers them with the key", async () => {
    const bytes = await packBytes(sampleInputs(), {
      recipients: [x25519PublicFromSecret(id)],
      hideNames: true,
    });
    const manifestText = new TextDecoder().decode((await openBytes(bytes)).manifestBytes);
    expect(manifestText).not.toContain("readme.txt");
    const c = await openBytes(bytes);
    const master = await unlockMasterKey(c, { identities: [id] });
    const names = await realNames(c, master);
    expect([...names.values()].sort()).toEqual([
      "payload/data/big.bin",
      "payload/empty",
      "payload/readme.txt",
    ]);
    const entry = [...names].find(([, real]) => real === "payload/readme.txt")?.[0] as string;
    expect(await readAll(plainChunks(c, entry, masterEntryKeys(c, master)))).toEqual(text("hello capsule\n"));
  });

  it("decrypts verified ranges", async () => {
    const data = pseudoRandom(4 * 65536 + 5, 11);
    const c = await openBytes(
      await packBytes([bytesInput("payload/x", data)], { recipients: [x25519PublicFromSecret(id)] }),
    );
    const keys = masterEntryKeys(c, await unlockMasterKey(c, { identities: [id] }));
    expect(await readRange(c, "payload/x", 65000, 70000, keys)).toEqual(data.subarray(65000, 135000));
  });

  it("two seals of the same content differ (fresh keys) but both verify", async () => {
    const r = [x25519PublicFromSecret(id)];
    const a = await openBytes(await packBytes(sampleInputs(), { recipients: r }));
    const b = await openBytes(await packBytes(sampleInputs(), { recipients: r }));
    expect(a.manifest.root).not.toBe(b.manifest.root);
  });
});

describe("tampering is detected", () => {
  it("detects every single-byte change of a small capsule", async () => {
    const bytes = await packBytes([bytesInput("payload/a", text("abc")), bytesInput("meta/m", text("{}"))]);
    let undetected = 0;
    for (let i = 0; i < bytes.length; i++) {
      const copy = bytes.slice();
      copy[i] = (copy[i] as number) ^ 0x01;
      const ok = await Capsule.open(bytesSource(copy))
        .then((c) => c.verifyAll())
        .then(
          () => true,
          (e) => {
            if (!(e instanceof QcapError)) throw e;
            return false;
          },
        );
      if (ok) undetected++;
    }
    expect(undetected).toBe(0);
  });

  it("detects changes in the data, index and records of a multi-chunk entry", async () => {
    const bytes = await packBytes([bytesInput("payload/big", pseudoRandom(3 * 65536 + 9))]);
    const positions = new Set<number>();
    for (let i = 0; i < bytes.length; i += 4093) positions.add(i);
    for (let i = 3 * 65536; i < bytes.length; i++) positions.add(i); // tail: index, manifest, directory
    for (const i of positions) {
      const copy = bytes.slice();
      copy[i] = (copy[i] as number) ^ 0x80;
      await expectFailure(Capsule.open(bytesSource(copy)).then((c) => c.verifyAll()));
    }
  });

  it("refuses a manifest with an unknown version even when properly signed", async () => {
    const bytes = await packBytes(sampleInputs());
    const c = await openBytes(bytes);
    const m = JSON.parse(new TextDecoder().decode(c.manifestBytes));
    m.qcap = 3;
    expect(() => parseManifest(encodeManifest(m))).toThrow(
      "format version 3 is not supported by this release",
    );
  });

  it("refuses a capsule signed by a key other than its issuer, and an untrusted issuer", async () => {
    const bytes = await packBytes(sampleInputs());
    await expectFailure(
      Capsule.open(bytesSource(bytes), { trust: [signingKey(9).publicKey] }),
      "unauthorized",
      /not a trusted key/,
    );
    await Capsule.open(bytesSource(bytes), { trust: [signingKey(1).publicKey] });
  });

  it("refuses prepended and appended bytes and truncation", async () => {
    const bytes = await packBytes(sampleInputs());
    const pre = new Uint8Array(bytes.length + 1);
    pre.set(bytes, 1);
    await expectFailure(openBytes(pre));
    const post = new Uint8Array(bytes.length + 1);
    post.set(bytes);
    await expectFailure(openBytes(post));
    for (const cut of [1, 22, 98, 500, bytes.length >> 1])
      await expectFailure(openBytes(bytes.subarray(0, bytes.length - cut)));
    await expectFailure(openBytes(new Uint8Array(0)));
  });
});

describe("key commitment", () => {
  it("refuses a stanza that unwraps to a key other than the committed one", async () => {
    const { readCentralDirectory, readEntryData } = await import("../src/zip/reader.js");
    const { wrapToX25519 } = await import("../src/crypto/recipients.js");
    const { rawZip } = await import("./helpers.js");
    const { ed25519 } = await import("@noble/curves/ed25519.js");
    const canonicalize = (await import("canonicalize")).default as unknown as (x: unknown) => string;
    const a = generateIdentity();
    const b = generateIdentity();
    const bytes = await packBytes(sampleInputs(), { recipients: [a.publicKey, b.publicKey] });
    const src = bytesSource(bytes);
    const c = await Capsule.open(src);
    // The issuer gives recipient b a different master key: a signed but two-faced capsule.
    const m = JSON.parse(new TextDecoder().decode(c.manifestBytes));
    m.seal.recipients[1] = wrapToX25519(new Uint8Array(32).fill(7), fromHexId(m.seal.capsuleId), b.publicKey);
    const mBytes = new TextEncoder().encode(canonicalize(m));
    const cd = await readCentralDirectory(src);
    const entries = [];
    for (const e of cd.entries.slice(0, -2))
      entries.push({ name: e.name, bytes: await readEntryData(src, e) });
    const forged = rawZip([
      ...entries,
      { name: "manifest.json", bytes: mBytes },
      { name: "signatures/manifest.ed25519", bytes: ed25519.sign(mBytes, signingKey().seed) },
    ]);
    const f = await openBytes(forged);
    await unlockMasterKey(f, { identities: [a.secret] });
    await expectFailure(unlockMasterKey(f, { identities: [b.secret] }), "integrity", /did not commit/);
  });
});

function fromHexId(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16));
}
