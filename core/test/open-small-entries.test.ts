/**
 * Opening many small entries in batches: natively and on the portable path (QCAP_NATIVE=0) the tree
 * written is the input's, byte for byte and mode for mode; a small entry whose stored bytes or local
 * header were altered stops the run with exit 1 and leaves no output; a file in the way exits 2.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { qcapNative } from "../src/engine/native.js";
import { fileSource } from "../src/node/source.js";
import { pseudoRandom, qcap, tempDir } from "./helpers.js";

const work = tempDir("qcap-small-open-");
const input = join(work.path, "in");
const key = join(work.path, "key.json");
const capsule = join(work.path, "c.qcap");
const ENGINES = [
  { name: "native", env: {} },
  { name: "portable", env: { QCAP_NATIVE: "0" } },
];

/** Every file below `dir`: relative path → bytes and executable bit. */
function tree(dir: string, rel = ""): Map<string, { bytes: Buffer; exec: boolean }> {
  const out = new Map<string, { bytes: Buffer; exec: boolean }>();
  for (const name of readdirSync(join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const st = statSync(join(dir, r));
    if (st.isDirectory()) for (const [k, v] of tree(dir, r)) out.set(k, v);
    else out.set(r, { bytes: readFileSync(join(dir, r)), exec: (st.mode & 0o100) !== 0 });
  }
  return out;
}

beforeAll(() => {
  // 600 small files in nested folders (more than one batch and one index page), an empty file, an
  // executable, names that sort around folders ("a.txt" before "a/"), and one multi-chunk file.
  for (let i = 0; i < 600; i++) {
    const dir = join(input, `d${i % 7}`, `e${i % 3}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${i}.bin`), pseudoRandom(1 + ((i * 97) % 4000), i));
  }
  writeFileSync(join(input, "empty"), "");
  writeFileSync(join(input, "run.sh"), "#!/bin/sh\necho hi\n");
  chmodSync(join(input, "run.sh"), 0o755);
  writeFileSync(join(input, "a.txt"), "beside the folder");
  mkdirSync(join(input, "a"));
  writeFileSync(join(input, "a", "b"), "inside the folder");
  writeFileSync(join(input, "d1", "large.bin"), pseudoRandom(3 * 65536 + 17, 99));
  expect(qcap(["keygen", "-o", key, "--unprotected"]).code).toBe(0);
  const recipient = JSON.parse(readFileSync(key, "utf8")).public.recipient;
  const r = qcap(["pack", input, "-o", capsule, "--sign-key", key, "-r", recipient]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
});

afterAll(() => work.remove());

describe.each(ENGINES)("open of many small entries ($name)", ({ name, env }) => {
  test("writes the input tree exactly", () => {
    const out = join(work.path, `out-${name}`);
    // The native run is one only where the kernels are built.
    if (name === "native") expect(qcapNative?.openSmallEntries).toBeDefined();
    const r = qcap(["open", capsule, "-i", key, "-o", out, "--trust", key], { env });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const want = tree(input);
    const got = tree(out);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, v] of want) {
      expect(got.get(k)?.bytes.equals(v.bytes), k).toBe(true);
      expect(got.get(k)?.exec, k).toBe(v.exec);
    }
  });

  test("a file already in an existing output folder stops the run with exit 2", () => {
    const out = join(work.path, `busy-${name}`);
    mkdirSync(join(out, "d3", "e1"), { recursive: true });
    writeFileSync(join(out, "d3", "e1", "f10.bin"), "mine");
    const r = qcap(["open", capsule, "-i", key, "-o", out, "--trust", key], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/f10\.bin already exists/);
    expect(readFileSync(join(out, "d3", "e1", "f10.bin"), "utf8")).toBe("mine");
    expect(readdirSync(out)).toEqual(["d3"]);
  });
});

/** A copy of the capsule with one byte of `what` of a small entry in the middle flipped. */
async function tampered(what: "data" | "header" | "descriptor"): Promise<string> {
  const c = await Capsule.open(await fileSource(capsule));
  let target = null;
  let i = 0;
  for await (const e of c.entries())
    if (e.name.endsWith(".bin") && e.index === null && i++ === 300) target = e;
  await c.source.close();
  if (!target) throw new Error("no small entry found");
  const bytes = readFileSync(capsule);
  const at =
    what === "data"
      ? target.placed.dataOffset + 5
      : what === "header"
        ? target.placed.offset + 8
        : target.placed.dataOffset + target.stored + 6;
  bytes[at] = (bytes[at] as number) ^ 1;
  const path = join(work.path, `tampered-${what}.qcap`);
  writeFileSync(path, bytes);
  return path;
}

const REFUSALS = {
  data: /chunk 0 does not match the signed digest/,
  header: /local header does not match/,
  descriptor: /data descriptor does not match/,
};

describe.each(ENGINES)("altered small entries ($name)", ({ name, env }) => {
  test.each(["data", "header"] as const)("altered %s: exit 1, nothing written", async (what) => {
    const path = await tampered(what);
    const out = join(work.path, `bad-${what}-${name}`);
    const r = qcap(["open", path, "-i", key, "-o", out, "--trust", key], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(REFUSALS[what]);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(work.path).filter((n) => n.startsWith(".qcap-open-"))).toEqual([]);
  });
});

describe.each(ENGINES)("verify of many small entries ($name)", ({ env }) => {
  test("passes on the capsule as packed", () => {
    const r = qcap(["verify", capsule, "--trust", key], { env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  // Small entries are checked a batch at a time: a change inside a batch is still found.
  test.each(["data", "header", "descriptor"] as const)("altered %s: exit 1", async (what) => {
    const r = qcap(["verify", await tampered(what), "--trust", key], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(REFUSALS[what]);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
