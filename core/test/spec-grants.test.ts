/**
 * SPEC §11.5: `tokenDigest` over the identifier and caveats, each length-prefixed, and the final
 * signature `s`, not length-prefixed. Rebuilt from the macaroon JSON of core/test-vectors/grants.json
 * without the library, then compared with the library's value.
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { describe, expect, test } from "vitest";
import { toHex, utf8 } from "../src/crypto/bytes.js";
import { parseGrant, tokenDigest } from "../src/grant/grant.js";
import { jcs } from "../src/jcs.js";
import { loadVectors } from "./spec-helpers.js";

interface Wrapped {
  tokenDigestInput: string;
  tokenDigest: string;
  keysAad: string;
  file: { macaroon: { i: string; c: { i: string }[]; s64: string }; issued: unknown };
}
const v = loadVectors<{ grant: Wrapped; attenuated: Wrapped }>("grants.json");

const u32be = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

describe.each([
  ["issued", v.grant],
  ["attenuated", v.attenuated],
])("grants.json %s grant", (_, g) => {
  const m = g.file.macaroon;
  const s = Buffer.from(m.s64, "base64url");

  test("tokenDigestInput is id and caveats length-prefixed, then s as it is", () => {
    const parts = [u32be(m.i.length), Buffer.from(m.i)];
    for (const c of m.c) parts.push(u32be(Buffer.byteLength(c.i)), Buffer.from(c.i));
    expect(s.length).toBe(32);
    expect(Buffer.concat([...parts, s]).toString("hex")).toBe(g.tokenDigestInput);
    expect(g.tokenDigestInput.endsWith(s.toString("hex"))).toBe(true);
    expect(g.tokenDigestInput.endsWith(u32be(32).toString("hex") + s.toString("hex"))).toBe(false);
    expect(toHex(blake3(Buffer.from(g.tokenDigestInput, "hex")))).toBe(g.tokenDigest);
  });

  test("keysAad binds the issued part and the token digest", () => {
    const aad = Buffer.concat([
      Buffer.from("qcap/v1 grant keys\0"),
      blake3(jcs(g.file.issued)),
      Buffer.from(g.tokenDigest, "hex"),
    ]);
    expect(aad.toString("hex")).toBe(g.keysAad);
  });

  test("the library computes the same digest", () => {
    const grant = parseGrant(JSON.stringify(g.file));
    expect(toHex(tokenDigest(grant.macaroon))).toBe(g.tokenDigest);
    expect(toHex(grant.macaroon.signature)).toBe(s.toString("hex"));
    expect(utf8(m.i)).toEqual(grant.macaroon.identifier);
  });
});
