import { randomBytes } from "node:crypto";
import { x25519 } from "@noble/curves/ed25519.js";
import { argon2id as nobleArgon2id } from "@noble/hashes/argon2.js";
import { argon2id, blake3 as wasmBlake3 } from "hash-wasm";
import { beforeEach, describe, expect, test, vi } from "vitest";
import {
  type Argon2idStanza,
  kid,
  type Stanza,
  unwrapPassphrase,
  unwrapX25519,
  validateStanza,
  wrapToPassphrase,
  wrapToX25519,
  type X25519Stanza,
} from "../src/crypto/recipients.js";
import { expectQcapError, expectQcapErrorAsync, hex } from "./crypto-test-utils.js";

vi.mock("hash-wasm", async (importOriginal) => {
  const mod = await importOriginal<typeof import("hash-wasm")>();
  return { ...mod, argon2id: vi.fn(mod.argon2id) };
});

const rnd = (n: number) => new Uint8Array(randomBytes(n));
const SMALL = { m: 256, t: 1, p: 1 };

const tamper = (s: string, at = 0) => s.slice(0, at) + (s[at] === "0" ? "1" : "0") + s.slice(at + 1);

describe("x25519", () => {
  const master = rnd(32);
  const capsuleId = rnd(16);
  const secret = x25519.utils.randomSecretKey();
  const pub = x25519.getPublicKey(secret);
  const stanza = wrapToX25519(master, capsuleId, pub) as X25519Stanza;

  test("kid is BLAKE3(pub)[0:8]", async () => {
    expect(kid(pub)).toBe((await wasmBlake3(pub)).slice(0, 16));
    expect(stanza.kid).toBe(kid(pub));
  });

  test("round trip, with a fresh ephemeral key each time", () => {
    expect(validateStanza(stanza)).toEqual(stanza);
    expect(hex(unwrapX25519(stanza, capsuleId, secret) as Uint8Array)).toBe(hex(master));
    expect((wrapToX25519(master, capsuleId, pub) as X25519Stanza).epk).not.toBe(stanza.epk);
  });

  test("not for this identity: null", () => {
    expect(unwrapX25519(stanza, capsuleId, x25519.utils.randomSecretKey())).toBeNull();
    // Same key id claimed, other key: authentication fails, still null.
    const other = x25519.utils.randomSecretKey();
    const forged = {
      ...(wrapToX25519(master, capsuleId, x25519.getPublicKey(other)) as X25519Stanza),
      kid: stanza.kid,
    };
    expect(unwrapX25519(forged, capsuleId, secret)).toBeNull();
  });

  test("tampered stanza or other capsule: null", () => {
    for (const at of [0, 40, 95]) {
      expect(
        unwrapX25519({ ...stanza, wrappedKey: tamper(stanza.wrappedKey, at) }, capsuleId, secret),
      ).toBeNull();
    }
    expect(unwrapX25519({ ...stanza, epk: tamper(stanza.epk, 2) }, capsuleId, secret)).toBeNull();
    expect(unwrapX25519({ ...stanza, epk: "00".repeat(32) }, capsuleId, secret)).toBeNull(); // low order
    expect(unwrapX25519(stanza, rnd(16), secret)).toBeNull();
  });

  test("an argon2id stanza is not for an identity", () => {
    const s: Stanza = { type: "argon2id", salt: "00".repeat(16), ...SMALL, wrappedKey: "00".repeat(48) };
    expect(unwrapX25519(s, capsuleId, secret)).toBeNull();
  });

  test("low-order recipients are refused", () => {
    const lowOrder = [
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    for (const h of lowOrder)
      expectQcapError(() => wrapToX25519(master, capsuleId, Buffer.from(h, "hex")), "input");
  });
});

describe("argon2id", () => {
  const master = rnd(32);
  const capsuleId = rnd(16);
  const mocked = vi.mocked(argon2id);
  beforeEach(() => {
    mocked.mockClear();
  });

  test("round trip; wrong passphrase or capsule gives null", async () => {
    const s = (await wrapToPassphrase(master, capsuleId, "pässwörd ✓", SMALL)) as Argon2idStanza;
    expect(s).toMatchObject({ type: "argon2id", ...SMALL });
    expect(validateStanza(s)).toEqual(s);
    expect(hex((await unwrapPassphrase(s, capsuleId, "pässwörd ✓")) as Uint8Array)).toBe(hex(master));
    expect(await unwrapPassphrase(s, capsuleId, "passwörd ✓")).toBeNull();
    expect(await unwrapPassphrase(s, rnd(16), "pässwörd ✓")).toBeNull();
    expect(
      await unwrapPassphrase({ ...s, wrappedKey: tamper(s.wrappedKey) }, capsuleId, "pässwörd ✓"),
    ).toBeNull();
  });

  test("hash-wasm agrees with noble's independent Argon2id", async () => {
    const salt = rnd(16);
    for (const p of [SMALL, { m: 64, t: 3, p: 4 }]) {
      const a = await argon2id({
        password: "pässwörd",
        salt,
        memorySize: p.m,
        iterations: p.t,
        parallelism: p.p,
        hashLength: 32,
        outputType: "binary",
      });
      expect(hex(a)).toBe(hex(nobleArgon2id(new TextEncoder().encode("pässwörd"), salt, p)));
    }
  });

  test("default parameters are m = 64 MiB, t = 3, p = 1", async () => {
    const s = (await wrapToPassphrase(master, capsuleId, "x")) as Argon2idStanza;
    expect([s.m, s.t, s.p]).toEqual([65536, 3, 1]);
  });

  test("stanzas beyond the §5.3 limits are refused before any derivation", async () => {
    const ok = (await wrapToPassphrase(master, capsuleId, "x", SMALL)) as Argon2idStanza;
    mocked.mockClear();
    for (const bad of [
      { m: 4194305 },
      { t: 17 },
      { p: 17 },
      { m: 2 ** 40 },
      { m: 7 },
      { t: 0 },
      { p: 2, m: 15 },
      { t: 1.5 },
    ]) {
      await expectQcapErrorAsync(() => unwrapPassphrase({ ...ok, ...bad }, capsuleId, "x"), "format");
    }
    expect(mocked).not.toHaveBeenCalled();
    // The limits themselves are allowed (validation only; deriving 4 GiB is not tried here).
    expect(validateStanza({ ...ok, m: 1048576, t: 16, p: 16 })).toMatchObject({ m: 1048576 });
  });

  test("sealing refuses bad parameters and an empty passphrase", async () => {
    await expectQcapErrorAsync(() => wrapToPassphrase(master, capsuleId, "x", { m: 1048577 }), "usage");
    await expectQcapErrorAsync(() => wrapToPassphrase(master, capsuleId, "x", { t: 0 }), "usage");
    await expectQcapErrorAsync(() => wrapToPassphrase(master, capsuleId, "", SMALL), "usage");
    expect(mocked).not.toHaveBeenCalled();
  });
});

describe("validateStanza", () => {
  const x: X25519Stanza = {
    type: "x25519",
    kid: "ab".repeat(8),
    epk: "cd".repeat(32),
    wrappedKey: "ef".repeat(48),
  };
  const a: Argon2idStanza = {
    type: "argon2id",
    salt: "01".repeat(16),
    ...SMALL,
    wrappedKey: "ef".repeat(48),
  };

  test("accepts well-formed stanzas", () => {
    expect(validateStanza(JSON.parse(JSON.stringify(x)))).toEqual(x);
    expect(validateStanza(JSON.parse(JSON.stringify(a)))).toEqual(a);
  });

  test("refuses anything else with a format error", () => {
    const bad: unknown[] = [
      null,
      [],
      "x25519",
      {},
      { ...x, type: "scrypt" },
      { ...x, extra: 1 },
      { type: "x25519", kid: x.kid, epk: x.epk },
      { ...x, kid: "AB".repeat(8) },
      { ...x, kid: "ab".repeat(9) },
      { ...x, epk: "cd".repeat(31) },
      { ...x, wrappedKey: "ef".repeat(32) },
      { ...x, salt: a.salt },
      { ...a, salt: "01".repeat(32) },
      { ...a, m: "256" },
      { ...a, t: 2.5 },
      { ...a, p: null },
      { ...a, kid: x.kid },
    ];
    for (const b of bad) expectQcapError(() => validateStanza(b), "format");
  });
});
