import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import {
  parsePublicKey,
  parseSigningKey,
  publicKeyToPem,
  seedToPem,
  sign,
  verify,
} from "../src/keys/ed25519.js";
import { generateKeyFile, serializeKeyFile } from "../src/keys/keyfile.js";
import { expectQcapError, hasCommand, hex, unhex } from "./crypto-test-utils.js";

const RFC1 = {
  seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  pub: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  sig: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};
const RFC1_PEM = seedToPem(unhex(RFC1.seed));

describe("parseSigningKey", () => {
  test("hex seed, with whitespace or in upper case", () => {
    for (const t of [
      RFC1.seed,
      `${RFC1.seed}\n`,
      `  ${RFC1.seed.slice(0, 32)}\n${RFC1.seed.slice(32)}  `,
      RFC1.seed.toUpperCase(),
    ]) {
      const k = parseSigningKey(t);
      expect(hex(k.seed)).toBe(RFC1.seed);
      expect(hex(k.publicKey)).toBe(RFC1.pub);
    }
  });

  test("PKCS#8 PEM, also with CRLF line ends", () => {
    expect(RFC1_PEM).toBe(
      "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n",
    );
    expect(hex(parseSigningKey(RFC1_PEM).seed)).toBe(RFC1.seed);
    expect(hex(parseSigningKey(RFC1_PEM.replace(/\n/g, "\r\n")).seed)).toBe(RFC1.seed);
  });

  test("a Q-Cap key file", () => {
    const k = generateKeyFile();
    expect(hex(parseSigningKey(serializeKeyFile(k)).seed)).toBe(hex(k.signing.seed));
  });

  test("bad input: one-line input errors that never echo the key", () => {
    const seed = RFC1.seed;
    const body = RFC1_PEM.split("\n")[1] as string;
    const cases: [string, RegExp?][] = [
      [seed.slice(0, 62)],
      [`${seed}00`],
      [`${seed.slice(0, 63)}g`],
      [""],
      [RFC1_PEM.replace("PRIVATE KEY-----\n", "PRIVATE KEY-----\n!!")],
      [RFC1_PEM.replace(/PRIVATE KEY/g, "ENCRYPTED PRIVATE KEY"), /encrypted/],
      [RFC1_PEM.replace(/PRIVATE KEY/g, "PUBLIC KEY"), /PUBLIC KEY/],
      [RFC1_PEM.replace("END PRIVATE", "END PUBLIC")],
      [RFC1_PEM.replace(body, body.slice(0, 60))],
      [RFC1_PEM + RFC1_PEM],
      ["AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ8H00W3", /age identity/],
    ];
    for (const [text, re] of cases) {
      const e = expectQcapError(() => parseSigningKey(text), "input", seed, body);
      expect(e.message).not.toContain("\n");
      if (re) expect(e.message).toMatch(re);
    }
  });
});

describe("public keys, signatures", () => {
  test("parsePublicKey: hex or SPKI PEM", () => {
    const pem = publicKeyToPem(unhex(RFC1.pub));
    expect(pem).toBe(
      "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n",
    );
    expect(hex(parsePublicKey(pem))).toBe(RFC1.pub);
    expect(hex(parsePublicKey(` ${RFC1.pub.toUpperCase()}\n`))).toBe(RFC1.pub);
    expectQcapError(() => parsePublicKey(RFC1.pub.slice(2)), "input");
    expectQcapError(() => parsePublicKey(RFC1_PEM), "input", RFC1.seed);
    // y = 2^255 - 1 is not a canonical field element: not a key.
    expectQcapError(() => parsePublicKey(`${"ff".repeat(31)}7f`), "input");
    // The identity point (small order): R = identity, S = 0 would "sign" every message.
    expect(expectQcapError(() => parsePublicKey(`01${"00".repeat(31)}`), "input").message).toMatch(
      /small order/,
    );
    const identity = unhex(`01${"00".repeat(31)}`);
    const universal = new Uint8Array(64);
    universal.set(identity);
    expect(verify(identity, Uint8Array.of(1, 2, 3), universal)).toBe(false);
  });

  test("sign and strict verify (RFC 8032 TEST 1)", () => {
    const sig = sign(unhex(RFC1.seed), new Uint8Array(0));
    expect(hex(sig)).toBe(RFC1.sig);
    const pub = unhex(RFC1.pub);
    expect(verify(pub, new Uint8Array(0), sig)).toBe(true);
    expect(verify(pub, Uint8Array.of(0), sig)).toBe(false);
    expect(verify(pub, new Uint8Array(0), sig.subarray(0, 63))).toBe(false);
    expect(verify(pub.subarray(1), new Uint8Array(0), sig)).toBe(false);
    const bad = sig.slice();
    bad[10] = (bad[10] as number) ^ 1;
    expect(verify(pub, new Uint8Array(0), bad)).toBe(false);
    // s + L (same signature, non-canonical s) must be refused.
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i] as number);
    s += L;
    const malleable = sig.slice();
    for (let i = 0; i < 32; i++) malleable[32 + i] = Number((s >> BigInt(8 * i)) & 255n);
    expect(verify(pub, new Uint8Array(0), malleable)).toBe(false);
  });
});

const HAS_OPENSSL = hasCommand("openssl", ["version"]);
if (!HAS_OPENSSL)
  console.warn("openssl interop tests skipped: openssl not on PATH (apt-get install openssl)");

describe.skipIf(!HAS_OPENSSL)("interop with openssl", () => {
  const dir = mkdtempSync(join(tmpdir(), "qcap-ed25519-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const f = (n: string) => join(dir, n);

  test("openssl genpkey key: parsed, its public key matches, our signature verifies with pkeyutl", () => {
    execFileSync("openssl", ["genpkey", "-algorithm", "ed25519", "-out", f("key.pem")], { stdio: "pipe" });
    const key = parseSigningKey(readFileSync(f("key.pem"), "utf8"));
    const sslPub = execFileSync("openssl", ["pkey", "-in", f("key.pem"), "-pubout"], { encoding: "utf8" });
    expect(hex(parsePublicKey(sslPub))).toBe(hex(key.publicKey));
    expect(publicKeyToPem(key.publicKey)).toBe(sslPub);

    const msg = new Uint8Array(randomBytes(1000));
    writeFileSync(f("msg"), msg);
    writeFileSync(f("sig"), sign(key.seed, msg));
    writeFileSync(f("pub.pem"), publicKeyToPem(key.publicKey));
    const args = [
      "pkeyutl",
      "-verify",
      "-pubin",
      "-inkey",
      f("pub.pem"),
      "-rawin",
      "-in",
      f("msg"),
      "-sigfile",
      f("sig"),
    ];
    const ok = spawnSync("openssl", args, { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("Signature Verified Successfully");

    // A signature of another message fails there too.
    writeFileSync(f("sig"), sign(key.seed, Uint8Array.of(1)));
    expect(spawnSync("openssl", args).status).not.toBe(0);
  });

  test("openssl signs, we verify; openssl reads our PKCS#8", () => {
    const seed = new Uint8Array(randomBytes(32));
    writeFileSync(f("ours.pem"), seedToPem(seed));
    const ours = parseSigningKey(seedToPem(seed));
    const sslPub = execFileSync("openssl", ["pkey", "-in", f("ours.pem"), "-pubout"], { encoding: "utf8" });
    expect(sslPub).toBe(publicKeyToPem(ours.publicKey));
    writeFileSync(f("msg2"), "a manifest");
    execFileSync("openssl", [
      "pkeyutl",
      "-sign",
      "-inkey",
      f("ours.pem"),
      "-rawin",
      "-in",
      f("msg2"),
      "-out",
      f("sig2"),
    ]);
    const sig = new Uint8Array(readFileSync(f("sig2")));
    expect(hex(sig)).toBe(hex(sign(seed, new TextEncoder().encode("a manifest"))));
    expect(verify(ours.publicKey, new TextEncoder().encode("a manifest"), sig)).toBe(true);
  });

  test("a non-Ed25519 PKCS#8 key is refused", () => {
    execFileSync(
      "openssl",
      ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f("ec.pem")],
      {
        stdio: "pipe",
      },
    );
    const e = expectQcapError(() => parseSigningKey(readFileSync(f("ec.pem"), "utf8")), "input");
    expect(e.message).toMatch(/Ed25519/);
  });
});

describe("sign() on Node", () => {
  test("gives noble's bytes for random keys and message sizes", async () => {
    const { ed25519 } = await import("@noble/curves/ed25519.js");
    for (const size of [0, 1, 64, 1000, 70_000]) {
      const seed = new Uint8Array(randomBytes(32));
      const msg = new Uint8Array(randomBytes(size));
      expect(hex(sign(seed, msg))).toBe(hex(ed25519.sign(msg, seed)));
    }
  });
});

describe("verify() on Node", () => {
  /** Little-endian 32 bytes of a scalar. */
  const le32 = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 255n));
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const leNum = (b: Uint8Array) => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);

  test("accepts exactly what noble's strict check accepts, where OpenSSL's check differs too", async () => {
    const { ed25519 } = await import("@noble/curves/ed25519.js");
    const { sha512 } = await import("@noble/hashes/sha2.js");
    const noble = (pub: Uint8Array, msg: Uint8Array, sig: Uint8Array) =>
      ed25519.verify(sig, msg, pub, { zip215: false });
    const msg = new TextEncoder().encode("manifest");
    const cases: { name: string; pub: Uint8Array; sig: Uint8Array; want: boolean }[] = [];

    const seed = new Uint8Array(randomBytes(32));
    const pub = ed25519.getPublicKey(seed);
    cases.push({ name: "a valid signature", pub, sig: sign(seed, msg), want: true });

    // R + T for T of order 8: only the cofactored equation (RFC 8032 §5.1.7, noble) holds; OpenSSL's
    // cofactorless one does not, so the verdict must come from noble.
    const { scalar: a } = ed25519.utils.getExtendedPublicKey(seed);
    const T = ed25519.Point.fromBytes(
      unhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    );
    const r = (leNum(new Uint8Array(randomBytes(32))) % (L - 1n)) + 1n;
    const R = ed25519.Point.BASE.multiply(r).add(T).toBytes();
    const k = leNum(sha512(Uint8Array.from([...R, ...pub, ...msg]))) % L;
    const torsion = Uint8Array.from([...R, ...le32((r + k * a) % L)]);
    cases.push({ name: "a torsioned R (cofactored only)", pub, sig: torsion, want: true });

    // A key of small order (the identity) with R = identity and S = 0: both of OpenSSL's checks
    // can hold, but strict verification refuses small-order keys.
    const identity = le32(1n);
    cases.push({
      name: "the identity as key",
      pub: identity,
      sig: Uint8Array.from([...identity, ...le32(0n)]),
      want: false,
    });
    for (const c of cases) {
      expect(noble(c.pub, msg, c.sig), c.name).toBe(c.want);
      expect(verify(c.pub, msg, c.sig), c.name).toBe(c.want);
    }
  });
});
