/** Helpers for the crypto and key tests. */
import { spawnSync } from "node:child_process";
import { expect } from "vitest";
import type { ErrorKind } from "../src/errors.js";
import { QcapError } from "../src/errors.js";

/** Asserts that `f` throws a QcapError of `kind` whose message contains none of `secrets`. */
export function expectQcapError(f: () => unknown, kind: ErrorKind, ...secrets: string[]): QcapError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  return checkError(err, kind, secrets);
}

export async function expectQcapErrorAsync(
  f: () => Promise<unknown>,
  kind: ErrorKind,
  ...secrets: string[]
): Promise<QcapError> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  return checkError(err, kind, secrets);
}

function checkError(err: unknown, kind: ErrorKind, secrets: string[]): QcapError {
  expect(err, "expected a QcapError").toBeInstanceOf(QcapError);
  const q = err as QcapError;
  expect(q.kind, q.message).toBe(kind);
  const text = `${q.message} ${String(q.cause ?? "")}`.toLowerCase();
  for (const s of secrets) {
    // Any 16-character piece of the secret (after its public prefix) would be a leak.
    const needle = s
      .trim()
      .toLowerCase()
      .replace(/^(age-secret-key-1|age1)/, "");
    for (let i = 0; i + 16 <= needle.length; i += 8) expect(text).not.toContain(needle.slice(i, i + 16));
  }
  return q;
}

/** True when `cmd` runs (for optional interop tests). */
export function hasCommand(cmd: string, args: string[] = ["--version"]): boolean {
  const r = spawnSync(cmd, args, { stdio: "ignore" });
  return r.error === undefined;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));

/** `s` with its last character replaced by a different one of the same case (a checksum error). */
export function changeLast(s: string): string {
  const last = s.slice(-1);
  const repl = last.toLowerCase() === "q" ? "p" : "q";
  return s.slice(0, -1) + (last === last.toUpperCase() ? repl.toUpperCase() : repl);
}
