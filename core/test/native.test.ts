/**
 * The native block kernels (`@qcap/native`) give the bytes, digests and CRCs of the portable
 * engines (noble STREAM, WebAssembly BLAKE3, plain-JS CRC-32) and the same verdicts on bad data.
 */

import { execFileSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput, type PackOptions, pack, sealsNatively } from "../src/capsule/pack.js";
import { masterEntryKeys, unlockMasterKey } from "../src/capsule/unlock.js";
import {
  chunkCount,
  hchacha20,
  nobleChunkCipher,
  PLAIN_CHUNK,
  STORED_CHUNK,
  streamSubkey,
} from "../src/crypto/stream.js";
import { qcapNative } from "../src/engine/native.js";
import { nativeSmallFiles } from "../src/engine/small-files.js";
import { QcapError } from "../src/errors.js";
import { wasmBlake3, wasmBlake3Ready } from "../src/hash/blake3.js";
import { crc32JsOnly } from "../src/hash/crc32.js";
import { toHex } from "../src/hash/hex.js";
import { extract } from "../src/node/extract.js";
import { directoryInputs, fileInput } from "../src/node/inputs.js";
import { fileSink } from "../src/node/sink.js";
import { fileSource } from "../src/node/source.js";
import { packBytes, pseudoRandom, signingKey, tempDir } from "./helpers.js";

const built = existsSync(new URL("../../native/qcap_native.node", import.meta.url));
const BLOCK = 16;

/** The portable engines' result for one block: stored bytes, digests, CRC-32. */
function portableSeal(
  key: Uint8Array | null,
  aad: Uint8Array,
  first: number,
  total: number,
  plain: Uint8Array,
) {
  const cipher = key ? nobleChunkCipher(key, aad) : null;
  const stored: Uint8Array[] = [];
  for (let at = 0, c = 0; at < plain.length || c === 0; at += PLAIN_CHUNK, c++) {
    const p = plain.subarray(at, Math.min(plain.length, at + PLAIN_CHUNK));
    stored.push(cipher ? cipher.seal(first + c, first + c === total - 1, p) : p);
  }
  const all = new Uint8Array(stored.reduce((s, x) => s + x.length, 0));
  let o = 0;
  for (const s of stored) {
    all.set(s, o);
    o += s.length;
  }
  return { stored: all, digests: stored.map((s) => toHex(wasmBlake3(s))), crc: crc32JsOnly(all) };
}

describe.skipIf(!built)("native block kernels", () => {
  beforeAll(() => wasmBlake3Ready());

  it("loads on Node where built, unless QCAP_NATIVE=0", () => {
    expect(qcapNative !== undefined).toBe(process.env.QCAP_NATIVE !== "0");
  });

  const na = () => {
    if (!qcapNative) throw new Error("native kernels not loaded");
    return qcapNative;
  };
  const key = pseudoRandom(32, 7);
  const aad = pseudoRandom(45, 8);
  // [first chunk, total chunks, plaintext bytes in the block]
  const cases: [number, number, number][] = [
    [0, 16, BLOCK * PLAIN_CHUNK],
    [16, 20, 3 * PLAIN_CHUNK + 17],
    [32, 33, 1],
    [0, 1, 0],
    [2 ** 40, 2 ** 40 + 16, BLOCK * PLAIN_CHUNK],
  ];

  it.each(cases)("seals chunks %i.. of %i (%i bytes) as the portable engines do", (first, total, length) => {
    const plain = pseudoRandom(length, first + length);
    for (const k of [key, null]) {
      const want = portableSeal(k, aad, first, total, plain);
      const input = new Uint8Array(BLOCK * STORED_CHUNK);
      input.set(plain);
      const output = new Uint8Array(BLOCK * STORED_CHUNK);
      const digests = new Uint8Array(BLOCK * 32);
      const crc = na().sealBlock(k && streamSubkey(k), aad, first, total, input, length, output, digests);
      const stored = (k ? output : input).subarray(0, want.stored.length);
      expect(toHex(stored)).toBe(toHex(want.stored));
      const n = Math.max(1, chunkCount(length));
      expect(Array.from({ length: n }, (_, c) => toHex(digests.subarray(c * 32, c * 32 + 32)))).toEqual(
        want.digests,
      );
      expect(crc).toBe(want.crc);
    }
  });

  it("opens what it sealed, and names the first chunk that is altered or does not authenticate", () => {
    const [first, total] = [16, 20];
    const plain = pseudoRandom(3 * PLAIN_CHUNK + 17, 3);
    const want = portableSeal(key, aad, first, total, plain);
    const expected = Uint8Array.from(want.digests.flatMap((h) => Array.from(Buffer.from(h, "hex"))));
    const out = new Uint8Array(BLOCK * STORED_CHUNK);
    const open = (stored: Uint8Array, k: Uint8Array | null) =>
      na().openBlock(
        k && streamSubkey(k),
        aad,
        first,
        total,
        STORED_CHUNK,
        stored,
        stored.length,
        expected,
        out,
      );
    expect(open(want.stored, key)).toBe(plain.length);
    expect(toHex(out.subarray(0, plain.length))).toBe(toHex(plain));
    expect(open(want.stored, null)).toBe(want.stored.length);
    const altered = want.stored.slice();
    altered[2 * STORED_CHUNK + 5] ^= 1;
    // Failures are Errors with a code and the chunk's number within the block, not sentinel values.
    expect(() => open(altered, key)).toThrow(
      expect.objectContaining({ code: "QCAP_CHUNK_MISMATCH", chunk: 2 }),
    );
    // Digests that match but a wrong key: chunk 0 fails to authenticate, and nothing is released.
    out.fill(0xaa);
    expect(() => open(want.stored, pseudoRandom(32, 99))).toThrow(
      expect.objectContaining({ code: "QCAP_CHUNK_NOT_AUTHENTIC", chunk: 0 }),
    );
    expect(out.subarray(0, PLAIN_CHUNK).every((b) => b === 0)).toBe(true);
  });

  it("refuses output buffers that overlap an input, so Rust never holds aliasing slices", async () => {
    const buf = new Uint8Array(4 * STORED_CHUNK);
    const subkey = streamSubkey(key);
    const overlap = expect.objectContaining({ code: "QCAP_BUFFER_OVERLAP" });
    expect(() => na().chunkSeal(subkey, aad, 0, true, buf.subarray(0, 100), buf.subarray(50, 200))).toThrow(
      overlap,
    );
    expect(() => na().chunkOpen(subkey, aad, 0, true, buf.subarray(0, 116), buf.subarray(0, 100))).toThrow(
      overlap,
    );
    expect(() => na().blake3Into(buf.subarray(0, 64), buf.subarray(32, 64))).toThrow(overlap);
    const digests = new Uint8Array(32);
    expect(() =>
      na().sealBlock(subkey, aad, 0, 1, buf.subarray(0, 100), 100, buf.subarray(64, 300), digests),
    ).toThrow(overlap);
    expect(() =>
      na().openBlock(subkey, aad, 0, 1, STORED_CHUNK, buf.subarray(0, 116), 116, digests, buf.subarray(100)),
    ).toThrow(overlap);
    // Adjacent views of one buffer do not overlap.
    na().chunkSeal(subkey, aad, 0, true, buf.subarray(0, 100), buf.subarray(100, 216));
    // Batches reject with codes too, naming the file of the batch that failed (errno 2: ENOENT).
    const missing = join(tmpdir(), `qcap-missing-${process.pid}`);
    await expect(na().sealSmallFiles([missing], [1], null, null, null, 1)).rejects.toMatchObject({
      code: "QCAP_FILE_UNREADABLE",
      index: 0,
      errno: 2,
    });
  });

  it("computes HChaCha20 as the draft's vector and the JS implementation do", () => {
    const key = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex");
    const nonce = Buffer.from("000000090000004a0000000031415927", "hex");
    expect(toHex(na().hchacha20Subkey(key, nonce))).toBe(
      "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc",
    );
    for (let i = 0; i < 20; i++) {
      const k = pseudoRandom(32, 100 + i);
      const n = pseudoRandom(16, 200 + i);
      expect(toHex(na().hchacha20Subkey(k, n))).toBe(toHex(hchacha20(k, n)));
    }
  });

  it("refuses buffers too small for the work", () => {
    const small = new Uint8Array(10);
    expect(() => na().sealBlock(streamSubkey(key), aad, 0, 1, small, 100, small, small)).toThrow();
    expect(() =>
      na().chunkSeal(streamSubkey(key), aad, 0, true, new Uint8Array(8), new Uint8Array(8)),
    ).toThrow();
  });
});

describe.skipIf(!built)("native checks of local capsules (verify)", () => {
  const MiB = 1024 * 1024;
  const tmp = tempDir("qcap-native-");
  afterAll(() => tmp.remove());

  async function capsuleFile(): Promise<{ path: string; bytes: Uint8Array; dataOffset: number }> {
    const bytes = await packBytes([
      bytesInput("payload/big.bin", pseudoRandom(6 * MiB + 123, 4)),
      bytesInput("payload/small.txt", pseudoRandom(100, 5)),
    ]);
    const path = join(tmp.path, `c-${Math.random()}.qcap`);
    writeFileSync(path, bytes);
    const c = await Capsule.open(await fileSource(path));
    const dataOffset = (await c.entry("payload/big.bin")).placed.dataOffset;
    await c.source.close?.();
    return { path, bytes, dataOffset };
  }

  it("checks large entries natively and passes a good capsule", async () => {
    const { path } = await capsuleFile();
    const c = await Capsule.open(await fileSource(path));
    expect(c.checksNatively()).toBe(true);
    let seen = 0;
    await c.verifyAll((n) => {
      seen += n;
    });
    expect(seen).toBe(6 * MiB + 123 + 100);
    await c.source.close?.();
  });

  it("names the first altered chunk, as the other paths do", async () => {
    const { path, bytes, dataOffset } = await capsuleFile();
    const bad = bytes.slice();
    for (const chunk of [90, 70]) bad[dataOffset + chunk * 65536 + 9] ^= 0x40;
    writeFileSync(path, bad);
    const c = await Capsule.open(await fileSource(path));
    const err = await c.verifyAll().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QcapError);
    expect((err as QcapError).kind).toBe("integrity");
    expect((err as QcapError).message).toBe("payload/big.bin: chunk 70 does not match the signed digest");
    await c.source.close?.();
  });

  it("reports a file that ends early and rejects on a bad descriptor", async () => {
    const na = qcapNative as NonNullable<typeof qcapNative>;
    const { path, dataOffset } = await capsuleFile();
    const fd = openSync(path, "r");
    try {
      const size = readFileSync(path).length;
      const expected = new Uint8Array(32 * 200);
      await expect(na.checkFileChunks(fd, size - 1000, 200 * 65536, 65536, expected, 2)).rejects.toThrow(
        expect.objectContaining({ code: "QCAP_TRUNCATED" }),
      );
      // Digests that cannot match: chunk 0 is reported, whatever thread saw which block.
      await expect(na.checkFileChunks(fd, dataOffset, 64 * 65536, 65536, expected, 2)).rejects.toThrow(
        expect.objectContaining({ code: "QCAP_CHUNK_MISMATCH", chunk: 0 }),
      );
    } finally {
      closeSync(fd);
    }
    expect(() => na.checkFileChunks(-1, 0, 65536, 65536, new Uint8Array(32), 1)).toThrow(/file descriptor/);
  });
});

describe.skipIf(!built)("native sealing of local files into file sinks (pack)", () => {
  const MiB = 1024 * 1024;
  const tmp = tempDir("qcap-native-seal-");
  afterAll(() => tmp.remove());
  const recipient = new Uint8Array(32).fill(3);
  /** Deterministic "random" values, so that two packs can be compared byte for byte. */
  const fixedRandom = () => {
    let n = 0;
    return (len: number) => new Uint8Array(len).fill(++n);
  };

  it("writes the bytes of the portable path, sealed and not", async () => {
    expect(sealsNatively()).toBe(true);
    const data = pseudoRandom(70 * MiB + 4321, 11);
    const path = join(tmp.path, "in.bin");
    writeFileSync(path, data);
    for (const recipients of [[recipient], []]) {
      const out = join(tmp.path, `out-${recipients.length}.qcap`);
      const opts = { signingKey: signingKey(), recipients, random: fixedRandom() };
      await pack([fileInput(path, "payload/in.bin", data.length, 0o644)], await fileSink(out), opts);
      const viaMemory = await packBytes([bytesInput("payload/in.bin", data)], {
        ...opts,
        random: fixedRandom(),
      });
      const written = readFileSync(out);
      expect(written.length).toBe(viaMemory.length);
      expect(Buffer.compare(written, viaMemory)).toBe(0);
    }
  });

  it("notices a file that shrank or grew, and leaves no output", async () => {
    const path = join(tmp.path, "grow.bin");
    writeFileSync(path, pseudoRandom(6 * MiB, 12));
    for (const size of [7 * MiB, 5 * MiB]) {
      const out = join(tmp.path, `g-${size}.qcap`);
      const err = await pack([fileInput(path, "payload/g", size, 0o644)], await fileSink(out), {
        signingKey: signingKey(),
      }).catch((e: unknown) => e);
      expect((err as QcapError).kind, `${size}`).toBe("input");
      expect((err as QcapError).message).toMatch(/^payload\/g: changed while (reading \(shrank\)|packing)/);
      expect(existsSync(out)).toBe(false);
    }
  });
});

describe.skipIf(!built)("native batches of small files (pack)", () => {
  const tmp = tempDir("qcap-native-small-");
  afterAll(() => tmp.remove());
  const fixedRandom = () => {
    let n = 0;
    return (len: number) => new Uint8Array(len).fill(++n);
  };

  /** A folder of small files of many sizes (batch limits, empty, one chunk, one byte over). */
  function folder(name: string, count: number): string {
    const dir = join(tmp.path, name);
    for (let i = 0; i < count; i++) {
      const sub = join(dir, `d${i % 7}`);
      mkdirSync(sub, { recursive: true });
      const size = [0, 1, 4096, 65535, 65536, 65537, 100_000][i % 7] as number;
      writeFileSync(join(sub, `f${i}.bin`), pseudoRandom(size, i + 1));
    }
    return dir;
  }

  async function packDir(dir: string, out: string, opts: Partial<PackOptions>) {
    const inputs = [
      ...(await directoryInputs(dir, "payload/")),
      bytesInput("meta/item.json", pseudoRandom(300, 2)),
    ];
    await pack(inputs, await fileSink(out), { signingKey: signingKey(), random: fixedRandom(), ...opts });
    return readFileSync(out);
  }

  it("writes the bytes of the one-file-at-a-time path: sealed, hidden names, and in the clear", async () => {
    const batcher = nativeSmallFiles(qcapNative);
    expect(batcher).toBeDefined();
    const dir = folder("many", 700);
    for (const extra of [
      { recipients: [new Uint8Array(32).fill(3)] },
      { recipients: [new Uint8Array(32).fill(3)], hideNames: true },
      {},
    ]) {
      const a = await packDir(dir, join(tmp.path, "a.qcap"), {
        ...extra,
        ...(batcher ? { smallFiles: batcher } : {}),
      });
      const b = await packDir(dir, join(tmp.path, "b.qcap"), extra);
      expect(a.length).toBe(b.length);
      expect(Buffer.compare(a, b)).toBe(0);
    }
  });

  it("names a file that went missing, changed size or became a symbolic link after listing", async () => {
    const batcher = nativeSmallFiles(qcapNative);
    const cases: [string, (path: string) => void, RegExp][] = [
      ["gone", (p) => unlinkSync(p), /^cannot read .*f2\.bin: no such file$/],
      [
        "grew",
        (p) => writeFileSync(p, pseudoRandom(5000)),
        /^payload\/d2\/f2\.bin: changed while packing \(grew\)$/,
      ],
      [
        "shrank",
        (p) => writeFileSync(p, pseudoRandom(10)),
        /^payload\/d2\/f2\.bin: changed while packing \(expected 4096 bytes, read 10\)$/,
      ],
      [
        "link",
        (p) => {
          unlinkSync(p);
          symlinkSync("/etc/hostname", p);
        },
        /^cannot read .*f2\.bin: is a symbolic link \(not followed\)$/,
      ],
    ];
    // The same messages with and without the native batches.
    for (const [label, change, message] of cases) {
      for (const smallFiles of [batcher, undefined]) {
        const dir = folder(`${label}-${smallFiles ? "native" : "js"}`, 20);
        const inputs = await directoryInputs(dir, "payload/");
        change(join(dir, "d2", "f2.bin"));
        const out = join(tmp.path, `${label}.qcap`);
        const err = await pack(inputs, await fileSink(out), {
          signingKey: signingKey(),
          recipients: [new Uint8Array(32).fill(3)],
          ...(smallFiles ? { smallFiles } : {}),
        }).catch((e: unknown) => e);
        expect((err as QcapError).kind, label).toBe("input");
        expect((err as QcapError).message, label).toMatch(message);
        expect(existsSync(out), label).toBe(false);
      }
    }
  });
});

describe.skipIf(!built)("native listing of folders (pack)", () => {
  const tmp = tempDir("qcap-native-list-");
  afterAll(() => tmp.remove());
  const list = async (dir: string) =>
    (await directoryInputs(dir, "payload/")).map((i) => ({ name: i.name, size: i.size, mode: i.mode }));

  it("lists what the portable walk lists: names, sizes and modes, nested, in any script", async () => {
    const dir = join(tmp.path, "tree");
    for (const [rel, size, exec] of [
      ["a.txt", 3, false],
      ["b/c.bin", 70000, true],
      ["b/d/e", 0, false],
      ["ünï/日本.tif", 10, false],
      ["Z", 1, false],
    ] as const) {
      mkdirSync(join(dir, rel, ".."), { recursive: true });
      writeFileSync(join(dir, rel), pseudoRandom(size), { mode: exec ? 0o755 : 0o644 });
    }
    const native = await list(dir);
    const script = `import("${new URL("../dist/node/inputs.js", import.meta.url).href}").then(async (m) => console.log(JSON.stringify((await m.directoryInputs(process.argv[1], "payload/")).map((i) => ({ name: i.name, size: i.size, mode: i.mode })))))`;
    const portable = JSON.parse(
      execFileSync(process.execPath, ["-e", script, dir], {
        env: { ...process.env, QCAP_NATIVE: "0" },
      }).toString(),
    );
    const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);
    expect([...native].sort(byName)).toEqual([...portable].sort(byName));
    expect(native.map((x) => x.name)).toContain("payload/ünï/日本.tif");
    expect(native.find((x) => x.name === "payload/b/c.bin")).toEqual({
      name: "payload/b/c.bin",
      size: 70000,
      mode: 0o755,
    });
  });

  it("refuses symbolic links and special files, naming them", async () => {
    const links = join(tmp.path, "links");
    mkdirSync(join(links, "sub"), { recursive: true });
    writeFileSync(join(links, "ok.txt"), "x");
    symlinkSync("/etc/hostname", join(links, "sub", "link"));
    await expect(list(links)).rejects.toThrow(
      `cannot pack ${join(links, "sub", "link")}: symbolic links are not packed`,
    );
    const fifo = join(tmp.path, "fifo");
    mkdirSync(fifo);
    execFileSync("mkfifo", [join(fifo, "pipe")]);
    await expect(list(fifo)).rejects.toThrow(`cannot pack ${join(fifo, "pipe")}: not a regular file`);
  });
});

describe.skipIf(!built)("native opening of local capsules (open)", () => {
  const MiB = 1024 * 1024;
  const tmp = tempDir("qcap-native-open-");
  afterAll(() => tmp.remove());
  const identity = new Uint8Array(32).fill(9);

  async function sealedFile(data: Uint8Array) {
    const { x25519 } = await import("@noble/curves/ed25519.js");
    const bytes = await packBytes(
      [bytesInput("payload/big.bin", data), bytesInput("payload/s.txt", pseudoRandom(9))],
      {
        recipients: [x25519.getPublicKey(identity)],
      },
    );
    const path = join(tmp.path, `s-${Math.random()}.qcap`);
    writeFileSync(path, bytes);
    return { path, bytes };
  }
  const keysOf = async (c: Capsule) =>
    masterEntryKeys(c, await unlockMasterKey(c, { identities: [identity] }));

  it("decrypts file to file what the portable path decrypts", async () => {
    const data = pseudoRandom(9 * MiB + 77, 21);
    const { path } = await sealedFile(data);
    const c = await Capsule.open(await fileSource(path));
    expect(c.opensNatively("payload/big.bin")).toBe(true);
    const out = join(tmp.path, "out");
    await extract(c, [{ entry: "payload/big.bin", path: "big.bin", mode: 0o644 }], out, {
      keys: await keysOf(c),
    });
    expect(Buffer.compare(readFileSync(join(out, "big.bin")), data)).toBe(0);
    await c.source.close?.();
  });

  it("refuses an altered chunk and a wrong key, leaving no output", async () => {
    const data = pseudoRandom(6 * MiB, 22);
    const { path, bytes } = await sealedFile(data);
    const c0 = await Capsule.open(await fileSource(path));
    const dataOffset = (await c0.entry("payload/big.bin")).placed.dataOffset;
    const keys = await keysOf(c0);
    await c0.source.close?.();
    const altered = bytes.slice();
    altered[dataOffset + 40 * 65552 + 3] ^= 1;
    writeFileSync(path, altered);
    const item = [{ entry: "payload/big.bin", path: "big.bin", mode: 0o644 }];
    const c = await Capsule.open(await fileSource(path));
    const out = join(tmp.path, "bad");
    const err = await extract(c, item, out, { keys }).catch((e: unknown) => e);
    expect((err as QcapError).message).toBe("payload/big.bin: chunk 40 does not match the signed digest");
    expect(existsSync(join(out, "big.bin"))).toBe(false);
    await c.source.close?.();
    writeFileSync(path, bytes);
    const c2 = await Capsule.open(await fileSource(path));
    const wrong = { capsuleId: keys.capsuleId, fileKey: () => pseudoRandom(32, 5) };
    const err2 = await extract(c2, item, join(tmp.path, "wrong"), { keys: wrong }).catch((e: unknown) => e);
    expect((err2 as QcapError).kind).toBe("decrypt");
    expect((err2 as QcapError).message).toMatch(/^decryption failed: chunk 0 does not authenticate/);
    expect(existsSync(join(tmp.path, "wrong", "big.bin"))).toBe(false);
    await c2.source.close?.();
  });
});
