/**
 * Packing from a stream of inputs in index order: the compact name check answers exactly as
 * `NameSet`, the sorted folder walk yields the order `pack` sorts arrays into, a streamed pack (with
 * the central directory spilled to a temporary file or not) is byte for byte the array's, and a
 * stream out of order or with clashing names is refused as input (exit 2).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { CompactNameSet } from "../src/capsule/compact-names.js";
import { bytesInput, type PackInput, type PackOptions, pack } from "../src/capsule/pack.js";
import { QcapError } from "../src/errors.js";
import { compareNames } from "../src/format/entries.js";
import { memorySink } from "../src/io/sink.js";
import { directoryInputs, walkInputs } from "../src/node/inputs.js";
import { fileSpill } from "../src/node/spill-file.js";
import { NameSet } from "../src/zip/names.js";
import { pseudoRandom, qcap, signingKey, tempDir } from "./helpers.js";
import { loadVectors } from "./spec-helpers.js";

const work = tempDir("qcap-pack-stream-");
afterAll(() => work.remove());

/** The message of the first name `add` refuses, or null. */
function firstRefusal(set: { add(name: string): void }, names: string[]): string | null {
  for (const n of names) {
    try {
      set.add(n);
    } catch (e) {
      if (e instanceof QcapError) return e.message;
      throw e;
    }
  }
  return null;
}

describe("CompactNameSet", () => {
  const v = loadVectors<{
    validSets: { names: string[] }[];
    invalidSets: { names: string[] }[];
  }>("names.json");

  test("answers every set of names.json as NameSet does, message for message", () => {
    for (const s of [...v.validSets, ...v.invalidSets]) {
      expect(firstRefusal(new CompactNameSet(), s.names), s.names.join(", ")).toBe(
        firstRefusal(new NameSet(), s.names),
      );
    }
    expect(v.invalidSets.length).toBeGreaterThan(0);
  });

  test("finds clashes among many names, through its tables' growth", () => {
    const names = Array.from({ length: 30_000 }, (_, i) => `payload/d${i % 97}/f${i}`);
    for (const extra of ["payload/D5/F5", "payload/d5", "payload/d5/f5/x", "payload/d96/f30000"]) {
      expect(firstRefusal(new CompactNameSet(), [...names, extra])).toBe(
        firstRefusal(new NameSet(), [...names, extra]),
      );
    }
    expect(firstRefusal(new CompactNameSet(), [...names, "payload/D5/F5"])).toMatch(/collide/);
    expect(firstRefusal(new CompactNameSet(), [...names, "payload/d96/f30000"])).toBeNull();
  });
});

describe("walkInputs", () => {
  test("yields the files in index order, folders sorting as if they ended in /", async () => {
    const dir = join(work.path, "walk");
    for (const rel of ["a/b", "a.txt", "a-b/c", "a0", "Z", "é/x", "z/é", "\u{1F600}", "\uFF21", "a/c/d"]) {
      mkdirSync(join(dir, rel, ".."), { recursive: true });
      writeFileSync(join(dir, rel), rel);
    }
    const walked: string[] = [];
    for await (const i of walkInputs(dir, "payload/")) walked.push(i.name);
    const listed = (await directoryInputs(dir, "payload/")).map((i) => i.name);
    expect(walked).toEqual([...listed].sort(compareNames));
    expect(walked.indexOf("payload/a.txt")).toBeLessThan(walked.indexOf("payload/a/b"));
    // U+FF21 is one UTF-16 unit above the surrogates of U+1F600 but sorts before it in UTF-8.
    expect(walked.indexOf("payload/\uFF21")).toBeLessThan(walked.indexOf("payload/\u{1F600}"));
  });
});

/** Deterministic random values, so that two packs of the same inputs give the same bytes. */
function fixedRandom(): (n: number) => Uint8Array {
  let seed = 1;
  return (n) => pseudoRandom(n, seed++);
}

async function* streamOf(inputs: PackInput[]): AsyncGenerator<PackInput> {
  yield* inputs;
}

async function packed(
  inputs: PackInput[] | AsyncIterable<PackInput>,
  extra: Partial<PackOptions> = {},
): Promise<Uint8Array> {
  const sink = memorySink();
  await pack(inputs, sink, {
    signingKey: signingKey(),
    recipients: [pseudoRandom(32, 5)],
    random: fixedRandom(),
    ...extra,
  });
  return sink.bytes();
}

describe("pack of a stream", () => {
  // Enough entries for a central directory of several 1 MiB blocks (spilled) and many index pages.
  const inputs = Array.from({ length: 12_000 }, (_, i) =>
    bytesInput(
      `payload/d${String(i % 13).padStart(2, "0")}/f${String(i).padStart(5, "0")}`,
      pseudoRandom(i % 50, i),
    ),
  );
  inputs.push(bytesInput("meta/about.json", new TextEncoder().encode("{}")));
  const ordered = [...inputs].sort((a, b) => compareNames(a.name, b.name));

  test("gives the array's bytes, with the central directory spilled or not", async () => {
    const fromArray = await packed([...inputs].reverse());
    expect(Buffer.from(await packed(streamOf(ordered))).equals(Buffer.from(fromArray))).toBe(true);
    const spilled = await packed(streamOf(ordered), { directorySpill: () => fileSpill(work.path) });
    expect(Buffer.from(spilled).equals(Buffer.from(fromArray))).toBe(true);
  });

  test("refuses inputs out of order and clashing names as input errors", async () => {
    const swapped = [ordered[1], ordered[0], ...ordered.slice(2)] as PackInput[];
    await expect(packed(streamOf(swapped))).rejects.toMatchObject({
      kind: "input",
      message: expect.stringMatching(/out of order/),
    });
    const clash = [...ordered.slice(0, 5), bytesInput("payload/d00/F00000", new Uint8Array(1))];
    clash.sort((a, b) => compareNames(a.name, b.name));
    await expect(packed(streamOf(clash))).rejects.toMatchObject({
      kind: "input",
      message: expect.stringMatching(/collide after case folding/),
    });
  });

  test("qcap pack walks the same order natively and in JavaScript: the same bytes", () => {
    const dir = join(work.path, "walk-cli");
    for (const rel of ["a/b", "a.txt", "a-b/c", "a0", "é/x", "z/é", "\u{1F600}", "\uFF21", "a/c/d"]) {
      mkdirSync(join(dir, rel, ".."), { recursive: true });
      writeFileSync(join(dir, rel), rel);
    }
    const key = join(work.path, "walk-key.json");
    expect(qcap(["keygen", "-o", key, "--unprotected"]).code).toBe(0);
    const out = (env: Record<string, string>, name: string) => {
      const path = join(work.path, name);
      const r = qcap(["pack", dir, "-o", path, "--sign-key", key, "--unsealed"], { env });
      expect(r.code).toBe(0);
      return readFileSync(path);
    };
    expect(out({}, "native.qcap").equals(out({ QCAP_NATIVE: "0" }, "portable.qcap"))).toBe(true);
  });

  test("qcap pack of a folder with a case clash exits 2", () => {
    const dir = join(work.path, "clash");
    mkdirSync(join(dir, "A"), { recursive: true });
    mkdirSync(join(dir, "a"), { recursive: true });
    writeFileSync(join(dir, "A", "x"), "1");
    writeFileSync(join(dir, "a", "X"), "2");
    const key = join(work.path, "key.json");
    expect(qcap(["keygen", "-o", key, "--unprotected"]).code).toBe(0);
    const r = qcap(["pack", dir, "-o", join(work.path, "clash.qcap"), "--sign-key", key, "--unsealed"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/collide after case folding/);
    expect(readFileSync(key, "utf8").length).toBeGreaterThan(0);
  });
});
