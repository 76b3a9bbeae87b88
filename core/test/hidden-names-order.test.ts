/**
 * Hidden names are ordered by their hashes, not by the real names a walk yields: with `spillSorter`
 * in runs spilled to a temporary file and merged, so that memory does not grow with the number of
 * inputs. The capsules packed so are byte for byte those of the in-memory order, and the CLI's
 * `pack`, `seal` and `recipients` (kept and rotated keys) keep every file of a hidden-names capsule.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alreadySorted, type NamedInput, sortInMemory } from "../src/capsule/name-order.js";
import { bytesInput, pack } from "../src/capsule/pack.js";
import { qcapNative } from "../src/engine/native.js";
import { sealName } from "../src/format/hidden-names.js";
import { memorySink } from "../src/io/sink.js";
import { walkInputs } from "../src/node/inputs.js";
import { spillSorter } from "../src/node/spill-sort.js";
import { pseudoRandom, qcap, signingKey, tempDir } from "./helpers.js";

const work = tempDir("qcap-hidden-order-");
const input = join(work.path, "in");
const key = join(work.path, "owner.key");
const other = join(work.path, "other.key");
const at = (...p: string[]) => join(work.path, ...p);
const recipientOf = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.recipient as string;

/** Every file below `dir`: relative path → bytes. */
function tree(dir: string, rel = ""): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(join(dir, r)).isDirectory()) for (const [k, v] of tree(dir, r)) out.set(k, v);
    else out.set(r, readFileSync(join(dir, r)));
  }
  return out;
}

beforeAll(() => {
  for (let i = 0; i < 300; i++) {
    const d = join(input, `d${i % 5}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${i}.txt`), pseudoRandom(1 + ((i * 131) % 3000), i));
  }
  writeFileSync(join(input, "big.bin"), pseudoRandom(200_000, 3));
  for (const k of [key, other]) expect(qcap(["keygen", "-o", k, "--unprotected"]).code).toBe(0);
});

afterAll(() => work.remove());

const names = (items: NamedInput[]) => items.map((i) => i.name);
const named = (n: number): NamedInput[] =>
  Array.from({ length: n }, (_, i) => ({
    input: bytesInput(`payload/r${i}`, new Uint8Array([i & 0xff])),
    // Hex names, as hidden names are, in an order unrelated to the real names'.
    name: `payload/${((i * 2654435761) >>> 0).toString(16).padStart(8, "0")}`,
    sealedName: new Uint8Array([i & 0xff, i >> 8]),
  }));

async function collect(it: AsyncIterable<NamedInput>): Promise<NamedInput[]> {
  const out: NamedInput[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* stream<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

describe("spillSorter", () => {
  it("merges spilled runs into the order of sorting in memory, items made again by reopen", async () => {
    const items = named(1000);
    const reopened: string[] = [];
    const sorter = spillSorter({
      runItems: 64,
      reopen: (name, size, mode) => {
        reopened.push(name);
        expect(size).toBe(1);
        expect(mode).toBe(0o644);
        return bytesInput(name, new Uint8Array(size), mode);
      },
    });
    const got = await collect(sorter.sort(stream(items)));
    const want = await collect(sortInMemory.sort(stream(items)));
    expect(names(got)).toEqual(names(want));
    expect(got.map((g) => g.input.name)).toEqual(want.map((w) => w.input.name));
    expect(got.map((g) => Array.from(g.sealedName))).toEqual(want.map((w) => Array.from(w.sealedName)));
    // All but the last, partial run went through the file.
    expect(reopened.length).toBe(1000 - (1000 % 64));
  });

  it("refuses to spill an input it cannot make again", async () => {
    const sorter = spillSorter({ runItems: 2 });
    await expect(collect(sorter.sort(stream(named(5))))).rejects.toThrow(/needs `reopen`/);
  });

  it("alreadySorted passes an ordered stream through and refuses one out of order", async () => {
    const sorted = await collect(sortInMemory.sort(stream(named(50))));
    expect(names(await collect(alreadySorted.sort(stream(sorted))))).toEqual(names(sorted));
    await expect(collect(alreadySorted.sort(stream(sorted.reverse())))).rejects.toThrow(/out of order/);
  });
});

describe("pack with hidden names from a folder walk", () => {
  it("spilling, the capsule is the one sorted in memory, byte for byte", async () => {
    const random = (n: number) => new Uint8Array(n).fill(5);
    const packWith = async (nameSorter: ReturnType<typeof spillSorter>) => {
      const sink = memorySink();
      await pack(walkInputs(input, "payload/"), sink, {
        signingKey: signingKey(),
        recipients: [new Uint8Array(32).fill(9)],
        hideNames: true,
        random,
        nameSorter,
      });
      return sink.bytes();
    };
    const spilled = await packWith(spillSorter({ runItems: 16 }));
    const inMemory = await packWith(sortInMemory);
    expect(Buffer.from(spilled).equals(Buffer.from(inMemory))).toBe(true);
  });
});

describe("the CLI keeps every file of a hidden-names capsule", () => {
  const want = () => tree(input);
  const opened = (capsule: string, identity: string, out: string) => {
    const r = qcap(["open", capsule, "-i", identity, "-o", at(out)]);
    expect(r.code, r.stderr).toBe(0);
    return tree(at(out));
  };

  it("pack --hide-names, recipients --add (same names) and --rotate (new names)", () => {
    const hidden = at("h.qcap");
    const p = qcap(["pack", input, "-o", hidden, "--sign-key", key, "-r", recipientOf(key), "--hide-names"]);
    expect(p.code, p.stderr).toBe(0);
    expect(opened(hidden, key, "h-out")).toEqual(want());

    const added = at("h-added.qcap");
    const a = qcap(["recipients", hidden, "--add", recipientOf(other), "-i", key, "-o", added, "--json"]);
    expect(a.code, a.stderr).toBe(0);
    const root = (f: string) => JSON.parse(qcap(["inspect", f, "--json"]).stdout).root as string;
    expect(root(added)).toBe(root(hidden));
    expect(opened(added, other, "h-added-out")).toEqual(want());

    const rotated = at("h-rotated.qcap");
    const r = qcap(["recipients", hidden, "--rotate", "--add", recipientOf(key), "-i", key, "-o", rotated]);
    expect(r.code, r.stderr).toBe(0);
    expect(root(rotated)).not.toBe(root(hidden));
    expect(opened(rotated, key, "h-rotated-out")).toEqual(want());
  });

  it("seal --hide-names of an unsealed capsule", () => {
    const plain = at("plain.qcap");
    expect(qcap(["pack", input, "-o", plain, "--sign-key", key, "--unsealed"]).code).toBe(0);
    const sealed = at("sealed.qcap");
    const s = qcap(["seal", plain, "-o", sealed, "--sign-key", key, "-r", recipientOf(key), "--hide-names"]);
    expect(s.code, s.stderr).toBe(0);
    expect(opened(sealed, key, "sealed-out")).toEqual(want());
  });
});

describe("hidden names sealed natively", () => {
  it("are those of the portable sealName, byte for byte", () => {
    const na = qcapNative;
    expect(na?.sealNames).toBeDefined();
    const key = new Uint8Array(32).map((_, i) => i * 7);
    const names = ["payload/a", "payload/é/ü.txt", "payload/日本/データ.csv", `payload/${"x".repeat(900)}`];
    const out = (na as NonNullable<typeof na>).sealNames(key, names);
    let at = 0;
    for (const name of names) {
      const want = sealName(key, name);
      const id = out.subarray(at, at + 16);
      const sealed = out.subarray(at + 16, at + 32 + Buffer.byteLength(name));
      expect(`payload/${Buffer.from(id).toString("hex")}`).toBe(want.zipName);
      expect(Buffer.from(sealed).equals(Buffer.from(want.sealedName))).toBe(true);
      at += 32 + Buffer.byteLength(name);
    }
    expect(at).toBe(out.length);
  });
});
