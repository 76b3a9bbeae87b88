/**
 * The worked example of SPEC §3.2: `payload/a` = "abc", unsealed. Its root page bytes, root and
 * offsets, as the `qcap` CLI writes them (version 2; a version 1 writer has no pages, §14).
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blake3 } from "@noble/hashes/blake3.js";
import { afterAll, expect, test } from "vitest";
import { qcap, readZip, tempDir } from "./spec-helpers.js";

const ROOT_PAGE =
  "000100" +
  "09007061796c6f61642f61" +
  "0300000000000000a401c2412435" +
  "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85" +
  "0000000000000000000000000000";
const ROOT = "2243141843e52c0fb669e0d616641c17ae1dd49d6985fa83803a9314f1e4708d";

const dir = tempDir();
afterAll(() => dir.remove());

test("SPEC §3.2 worked example", (ctx) => {
  const key = join(dir.path, "key.json");
  expect(qcap(["keygen", "--unprotected", "-o", key]).code).toBe(0);
  mkdirSync(join(dir.path, "in"));
  writeFileSync(join(dir.path, "in", "a"), "abc");
  chmodSync(join(dir.path, "in", "a"), 0o644);
  const out = join(dir.path, "a.qcap");
  const r = qcap(["pack", join(dir.path, "in"), "--sign-key", key, "--unsealed", "-o", out]);
  expect(r.code, r.stderr).toBe(0);
  const entries = readZip(readFileSync(out));
  const manifest = JSON.parse(
    Buffer.from(entries.find((e) => e.name === "manifest.json")?.data ?? []).toString(),
  );
  if (manifest.qcap === 1) return ctx.skip(); // a version 1 writer
  expect(
    blake3(Buffer.from(ROOT_PAGE, "hex")).reduce((s, b) => s + b.toString(16).padStart(2, "0"), ""),
  ).toBe(ROOT);
  expect(entries.map((e) => [e.name, e.offset])).toEqual([
    ["payload/a", 0],
    ["pages/root", 86],
    ["manifest.json", 244],
    ["signatures/manifest.ed25519", 244 + 50 + 13 + (entries[2]?.size ?? 0) + 24],
  ]);
  expect(Buffer.from(entries[1]?.data ?? []).toString("hex")).toBe(ROOT_PAGE);
  expect(manifest.root).toBe(ROOT);
  expect(manifest.entries).toBe(1);
});
