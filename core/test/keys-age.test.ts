import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import {
  encodeIdentity,
  encodeRecipient,
  generateIdentity,
  parseIdentity,
  parseRecipient,
  x25519PublicFromSecret,
} from "../src/keys/age.js";
import { loadKeyMaterial } from "../src/keys/keyfile.js";
import { changeLast, expectQcapError, hasCommand, hex } from "./crypto-test-utils.js";

describe("age encodings", () => {
  test("round trip of a generated identity", () => {
    const { secret, publicKey } = generateIdentity();
    expect(hex(x25519PublicFromSecret(secret))).toBe(hex(publicKey));
    const id = encodeIdentity(secret);
    const r = encodeRecipient(publicKey);
    expect(id).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(r).toMatch(/^age1[0-9a-z]{58}$/);
    expect(hex(parseIdentity(id))).toBe(hex(secret));
    expect(hex(parseRecipient(` ${r}\n`))).toBe(hex(publicKey));
  });

  test("malformed strings: one-line input errors that never echo a secret", () => {
    const { secret, publicKey } = generateIdentity();
    const id = encodeIdentity(secret);
    const r = encodeRecipient(publicKey);
    expect(expectQcapError(() => parseRecipient("hello"), "input").message).toBe(
      "not an age recipient (expected age1…)",
    );
    expect(expectQcapError(() => parseRecipient(id), "input", id).message).toMatch(/identity/);
    expectQcapError(() => parseRecipient(changeLast(r)), "input");
    expectQcapError(() => parseRecipient(r.slice(0, -3)), "input");
    expectQcapError(() => parseRecipient(`age1${"q".repeat(200)}`), "input");
    expectQcapError(() => parseIdentity(r), "input");
    expectQcapError(() => parseIdentity(changeLast(id)), "input", id);
    expectQcapError(() => parseIdentity(id.toLowerCase()), "input", id);
    expectQcapError(() => parseIdentity(`${id}Q`), "input", id);
    expectQcapError(() => parseIdentity(""), "input");
    for (const e of [
      expectQcapError(() => parseIdentity(changeLast(id)), "input", id),
      expectQcapError(() => parseIdentity(id.toLowerCase()), "input", id),
    ]) {
      expect(e.message).not.toContain("\n");
    }
  });
});

const HAS_AGE = hasCommand("age-keygen", ["--version"]) && hasCommand("age", ["--version"]);
if (!HAS_AGE) console.warn("age interop tests skipped: age-keygen not on PATH (apt-get install age)");

describe.skipIf(!HAS_AGE)("interop with age and age-keygen (apt package: age)", () => {
  const dir = mkdtempSync(join(tmpdir(), "qcap-age-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a key made by age-keygen loads, and its public key line is our recipient", () => {
    const file = join(dir, "keygen.txt");
    execFileSync("age-keygen", ["-o", file], { stdio: "pipe" });
    const text = readFileSync(file, "utf8");
    const material = loadKeyMaterial(text);
    expect(material.identities).toHaveLength(1);
    expect(material.signing).toBeUndefined();
    const publicLine = /^# public key: (age1\S+)$/m.exec(text)?.[1];
    const recipient = encodeRecipient(x25519PublicFromSecret(material.identities[0] as Uint8Array));
    expect(recipient).toBe(publicLine);
    expect(encodeRecipient(material.recipients[0] as Uint8Array)).toBe(publicLine);
    const identityLine = text.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1")) as string;
    expect(encodeIdentity(material.identities[0] as Uint8Array)).toBe(identityLine);
  });

  test("age-keygen -y derives our recipient from our identity", () => {
    for (let i = 0; i < 5; i++) {
      const { secret, publicKey } = generateIdentity();
      const file = join(dir, `ours-${i}.txt`);
      writeFileSync(file, `${encodeIdentity(secret)}\n`);
      expect(execFileSync("age-keygen", ["-y", file], { encoding: "utf8" }).trim()).toBe(
        encodeRecipient(publicKey),
      );
    }
  });

  test("age encrypts to our recipient and decrypts with our identity", () => {
    const { secret, publicKey } = generateIdentity();
    const idFile = join(dir, "id.txt");
    writeFileSync(idFile, `# ours\n${encodeIdentity(secret)}\n`);
    const ct = execFileSync("age", ["-r", encodeRecipient(publicKey)], { input: "hello age" });
    expect(execFileSync("age", ["-d", "-i", idFile], { input: ct, encoding: "utf8" })).toBe("hello age");
  });
});
