/**
 * The native kernels' own unit tests (`cargo test` in native/): BLAKE3, HChaCha20 and
 * ChaCha20-Poly1305 STREAM chunks and blocks against the known answers of core/test-vectors/, and the
 * overlap check that keeps Rust from holding aliasing slices. Cargo builds where CARGO_TARGET_DIR
 * says (as the native build does); without cargo the test is skipped, saying so.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./helpers.js";

const cargo = spawnSync("cargo", ["--version"], { encoding: "utf8" }).status === 0;
if (!cargo) process.stderr.write("native-cargo.test.ts: cargo not found, skipping `cargo test` of native/\n");

describe.skipIf(!cargo)("cargo test of the native kernels", () => {
  it("passes, running the known-answer tests", { timeout: 900_000 }, () => {
    const r = spawnSync("cargo", ["test", "--release", "--locked"], {
      cwd: join(repoRoot, "native"),
      encoding: "utf8",
      env: process.env,
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    for (const name of [
      "chunks::tests::blake3_known_answers",
      "chunks::tests::stream_chunks_known_answers",
      "chunks::tests::sealed_blocks_known_answers",
      "chunks::tests::overlap_is_detected",
      "kdf::tests::stream_subkey_known_answer",
    ])
      expect(r.stdout).toMatch(new RegExp(`^test ${name} \\.\\.\\. ok$`, "m"));
  });
});
