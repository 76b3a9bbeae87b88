import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { toHex } from "../src/crypto/bytes.js";
import { encodeIdentity, encodeRecipient, generateIdentity } from "../src/keys/age.js";
import { seedToPem } from "../src/keys/ed25519.js";
import { generateKeyFile, loadKeyMaterial, parseKeyFile, serializeKeyFile } from "../src/keys/keyfile.js";
import { writeKeyFile } from "../src/keys/keyfile-node.js";
import { changeLast, expectQcapError, expectQcapErrorAsync, hex } from "./crypto-test-utils.js";

describe("key file v1", () => {
  const k = generateKeyFile();
  const text = serializeKeyFile(k);
  const json = JSON.parse(text);
  const seedHex = toHex(k.signing.seed);
  const identity = encodeIdentity(k.identity.secret);

  test("layout", () => {
    expect(text.endsWith("}\n")).toBe(true);
    expect(text).toBe(`${JSON.stringify(json, null, 2)}\n`);
    expect(json).toEqual({
      type: "qcap-key",
      version: 1,
      signing: { ed25519: seedHex },
      identity,
      public: { ed25519: toHex(k.signing.publicKey), recipient: encodeRecipient(k.identity.publicKey) },
    });
    expect(k.public).toEqual(json.public);
  });

  test("round trip", () => {
    const p = parseKeyFile(text);
    expect(hex(p.signing.seed)).toBe(seedHex);
    expect(hex(p.signing.publicKey)).toBe(hex(k.signing.publicKey));
    expect(hex(p.identity.secret)).toBe(hex(k.identity.secret));
    expect(hex(p.identity.publicKey)).toBe(hex(k.identity.publicKey));
    expect(p.public).toEqual(k.public);
  });

  test("strict parsing; errors never echo secrets", () => {
    const other = generateKeyFile();
    const variants: [unknown, RegExp?][] = [
      [[]],
      [{ ...json, type: "age" }],
      [{ ...json, version: 2 }, /version 2/],
      [{ ...json, protected: {} }, /passphrase-protected/],
      [{ ...json, extra: true }, /extra/],
      [{ ...json, signing: undefined }],
      [{ ...json, signing: { ed25519: seedHex, x: 1 } }],
      [{ ...json, signing: { ed25519: seedHex.toUpperCase() } }],
      [{ ...json, signing: { ed25519: seedHex.slice(2) } }],
      [{ ...json, identity: identity.toLowerCase() }],
      [{ ...json, identity: 5 }],
      [{ ...json, public: { ...json.public, ed25519: other.public.ed25519 } }, /not the public key/],
      [{ ...json, public: { ...json.public, recipient: other.public.recipient } }, /not the recipient/],
      [{ ...json, public: { ed25519: json.public.ed25519 } }],
    ];
    for (const [v, re] of variants) {
      const e = expectQcapError(() => parseKeyFile(JSON.stringify(v)), "input", seedHex, identity);
      if (re) expect(e.message).toMatch(re);
    }
    // Broken JSON: the parser's own message (which may quote the text) is not passed on.
    expectQcapError(() => parseKeyFile(text.slice(0, 120)), "input", seedHex, identity);
    expectQcapError(() => parseKeyFile(text.replace(seedHex, `${seedHex}"x`)), "input", seedHex, identity);
  });
});

describe("loadKeyMaterial", () => {
  test("a Q-Cap key file gives both keys", () => {
    const k = generateKeyFile();
    const m = loadKeyMaterial(serializeKeyFile(k));
    expect(hex(m.signing?.seed as Uint8Array)).toBe(hex(k.signing.seed));
    expect(m.identities.map(hex)).toEqual([hex(k.identity.secret)]);
    expect(m.recipients.map(hex)).toEqual([hex(k.identity.publicKey)]);
  });

  test("an age identity file with comments, blank lines, CRLF and several keys", () => {
    const a = generateIdentity();
    const b = generateIdentity();
    const text = `# created: 2024-01-01T00:00:00Z\r\n# public key: ${encodeRecipient(a.publicKey)}\r\n${encodeIdentity(a.secret)}\r\n\r\n  ${encodeIdentity(b.secret)}  \n`;
    const m = loadKeyMaterial(text);
    expect(m.signing).toBeUndefined();
    expect(m.identities.map(hex)).toEqual([hex(a.secret), hex(b.secret)]);
    expect(m.recipients.map(hex)).toEqual([hex(a.publicKey), hex(b.publicKey)]);
  });

  test("a PEM or hex Ed25519 key gives a signing key only", () => {
    const k = generateKeyFile();
    for (const t of [seedToPem(k.signing.seed), toHex(k.signing.seed), `${toHex(k.signing.seed)}\n`]) {
      const m = loadKeyMaterial(t);
      expect(hex(m.signing?.publicKey as Uint8Array)).toBe(hex(k.signing.publicKey));
      expect(m.identities).toEqual([]);
      expect(m.recipients).toEqual([]);
    }
  });

  test("anything else is an input error that never echoes a secret", () => {
    const a = generateIdentity();
    const id = encodeIdentity(a.secret);
    expectQcapError(() => loadKeyMaterial(""), "input");
    expectQcapError(() => loadKeyMaterial("# only a comment\n"), "input");
    expectQcapError(() => loadKeyMaterial(encodeRecipient(a.publicKey)), "input");
    expectQcapError(() => loadKeyMaterial(`${id}\nsomething else\n`), "input", id);
    const e = expectQcapError(() => loadKeyMaterial(`# c\n${id}\n${changeLast(id)}\n`), "input", id);
    expect(e.message).toMatch(/line 3/);
    expect(
      expectQcapError(() => loadKeyMaterial("AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQ\n"), "input").message,
    ).toMatch(/plugin/);
  });
});

describe("writeKeyFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "qcap-keyfile-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("mode 0600, no temporary file left", async () => {
    const path = join(dir, "a.key");
    await writeKeyFile(path, "one\n");
    expect(readFileSync(path, "utf8")).toBe("one\n");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["a.key"]);
  });

  test("refuses to overwrite unless forced", async () => {
    const path = join(dir, "b.key");
    writeFileSync(path, "old\n", { mode: 0o644 });
    const e = await expectQcapErrorAsync(() => writeKeyFile(path, "new\n"), "input");
    expect(e.message).toMatch(/--force/);
    expect(readFileSync(path, "utf8")).toBe("old\n");
    await writeKeyFile(path, "new\n", { force: true });
    expect(readFileSync(path, "utf8")).toBe("new\n");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  test("a missing directory is an input error", async () => {
    const path = join(dir, "missing", "c.key");
    await expectQcapErrorAsync(() => writeKeyFile(path, "x"), "input");
    expect(existsSync(path)).toBe(false);
  });
});
