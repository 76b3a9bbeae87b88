/** The caveat grammar, path globs, RFC 3339 times and the macaroon serialization (SPEC §11.1–§11.3). */
import { describe, expect, test } from "vitest";
import { effective, formatCaveat, parseCaveat, pathMatcher } from "../src/grant/caveats.js";
import { compileGlob } from "../src/grant/glob.js";
import {
  decodeMacaroonV2,
  encodeMacaroonV2,
  mintMacaroon,
  verifyMacaroonChain,
} from "../src/grant/macaroon.js";
import { formatRfc3339, parseDuration, parseRfc3339 } from "../src/grant/time.js";
import { expectQcapError } from "./crypto-test-utils.js";

describe("globs", () => {
  const cases: [string, string, boolean][] = [
    ["payload/public/**", "payload/public/a.txt", true],
    ["payload/public/**", "payload/public/x/y/z", true],
    ["payload/public/**", "payload/public", false],
    ["payload/public/**", "payload/publicity/a", false],
    ["payload/**/*.md", "payload/a.md", true],
    ["payload/**/*.md", "payload/x/y/a.md", true],
    ["payload/*.md", "payload/x/a.md", false],
    ["payload/?.md", "payload/é.md", true],
    ["payload/?.md", "payload/ab.md", false],
    ["{payload/a/**,payload/b/*.md}", "payload/b/c.md", true],
    ["{payload/a/**,payload/b/*.md}", "payload/a/z/q", true],
    ["{payload/a/**,payload/b/*.md}", "payload/b/z/c.md", false],
    ["payload/{x,y{1,2}}/f", "payload/y2/f", true],
    ["payload/\\*", "payload/*", true],
    ["payload/\\*", "payload/a", false],
    ["payload/\\[x\\]", "payload/[x]", true],
    ["payload/a,b}", "payload/a,b}", true],
    ["payload/a.txt", "payload/aXtxt", false],
    ["payload/(a|b)+", "payload/(a|b)+", true],
  ];
  test.each(cases)("%s on %s is %s", (glob, name, expected) => {
    expect(compileGlob(glob)(name)).toBe(expected);
  });

  test.each([
    ["payload/a**"],
    ["payload/**a"],
    ["payload/***"],
    ["payload/[x]"],
    ["payload/{a"],
    ["payload/a\\"],
    [""],
    ["payload/e\u0301"],
    ["payload/\u0001"],
    [`payload/${"*/".repeat(33)}`],
    ["{".repeat(5) + "}".repeat(5)],
  ])("refuses %j", (glob) => {
    expectQcapError(() => compileGlob(glob), "input");
  });

  test("several path caveats intersect", () => {
    const m = pathMatcher(["payload/public/**", "payload/**/*.md"]);
    expect(m("payload/public/a.md")).toBe(true);
    expect(m("payload/public/a.txt")).toBe(false);
    expect(m("payload/other/a.md")).toBe(false);
    expect(pathMatcher([])("payload/anything")).toBe(true);
  });
});

describe("caveats", () => {
  const root = "ab".repeat(32);
  test("round trip of every kind, exactly as written", () => {
    for (const text of [
      `capsule = ${root}`,
      "aud = 0123456789abcdef",
      "allow = read",
      "allow = inspect",
      "purpose = research",
      "expires < 2030-01-31T00:00:00Z",
      "path payload/public/**",
      "path payload/with space/and ünïcode/*",
    ]) {
      expect(formatCaveat(parseCaveat(text))).toBe(text);
    }
  });

  test.each([
    ["ip = 10.0.0.1", /unknown caveat/],
    ["Capsule = x", /unknown caveat/],
    ["", /unknown caveat/],
    [`capsule = ${root.toUpperCase()}`, /malformed/],
    [`capsule  = ${root}`, /malformed/],
    ["aud = 0123", /malformed/],
    ["allow = write", /malformed/],
    ["allow=read", /unknown caveat/],
    ["purpose = Two Words", /malformed/],
    ["expires < 2030-02-30T00:00:00Z", /malformed/],
    ["expires < 2030-01-31", /malformed/],
    ["expires > 2030-01-31T00:00:00Z", /malformed/],
    ["path ", /malformed/],
    ["path payload/a**", /malformed/],
  ])("refuses %j (fail closed)", (text, re) => {
    expect(expectQcapError(() => parseCaveat(text), "unauthorized").message).toMatch(re);
  });

  test("combined: earliest expiry, intersection of paths, narrowest allow, last audience", () => {
    const e = effective(
      [
        `capsule = ${root}`,
        "aud = 1111111111111111",
        "allow = read",
        "expires < 2030-02-01T00:00:00Z",
        "path payload/a/**",
        "aud = 2222222222222222",
        "expires < 2030-01-15T00:00:00Z",
        "expires < 2030-03-01T00:00:00Z",
        "allow = inspect",
        "path payload/a/b/*",
        "purpose = research",
        "purpose = research",
      ].map(parseCaveat),
    );
    expect(e).toEqual({
      capsule: root,
      expires: parseRfc3339("2030-01-15T00:00:00Z"),
      audience: "2222222222222222",
      audiences: ["1111111111111111", "2222222222222222"],
      paths: ["payload/a/**", "payload/a/b/*"],
      purpose: "research",
      allow: "inspect",
    });
    expectQcapError(
      () => effective([parseCaveat("purpose = a"), parseCaveat("purpose = b")]),
      "unauthorized",
    );
    expectQcapError(
      () => effective([parseCaveat(`capsule = ${root}`), parseCaveat(`capsule = ${"cd".repeat(32)}`)]),
      "unauthorized",
    );
  });
});

describe("times", () => {
  test("RFC 3339", () => {
    expect(parseRfc3339("2030-01-31T12:00:00Z")).toBe(Date.UTC(2030, 0, 31, 12));
    expect(parseRfc3339("2030-01-31T14:30:00+02:30")).toBe(Date.UTC(2030, 0, 31, 12));
    expect(parseRfc3339("2030-01-31T12:00:00.5Z")).toBe(Date.UTC(2030, 0, 31, 12, 0, 0, 500));
    expect(parseRfc3339("2028-02-29T00:00:00Z")).toBe(Date.UTC(2028, 1, 29));
    for (const bad of [
      "2030-02-29T00:00:00Z",
      "2030-01-31t12:00:00z",
      "2030-01-31T24:00:00Z",
      "2030-13-01T00:00:00Z",
      "2030-01-31T12:00Z",
      "2030-01-31T12:00:60Z",
    ])
      expect(parseRfc3339(bad), bad).toBeUndefined();
    expect(formatRfc3339(Date.UTC(2030, 0, 31, 12, 0, 0, 999))).toBe("2030-01-31T12:00:00Z");
    expect(parseDuration("30d")).toBe(30 * 86_400_000);
    expect(parseDuration("0d")).toBeUndefined();
    expect(parseDuration("1y")).toBeUndefined();
  });
});

describe("macaroon serialization", () => {
  const key = new Uint8Array(32).fill(3);
  test("binary identifiers use i64; v2 JSON round trips", () => {
    const m = mintMacaroon(key, new Uint8Array([0xff, 0, 1]), null);
    const j = encodeMacaroonV2(m);
    expect(j).toEqual({ v: 2, i64: "_wAB", s64: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const back = decodeMacaroonV2(JSON.parse(JSON.stringify(j)));
    expect(verifyMacaroonChain(back, key)).toBe(true);
  });

  test.each([
    [{ v: 1, i: "x", s64: "A".repeat(43) }, /version/],
    [{ v: 2, s64: "A".repeat(43) }, /no "i"/],
    [{ v: 2, i: "x", i64: "eA", s64: "A".repeat(43) }, /both/],
    [{ v: 2, i: "x", s64: "A".repeat(42) }, /32 bytes/],
    [{ v: 2, i: "x", s64: `${"A".repeat(42)}+` }, /base64url/],
    [{ v: 2, i: "x", s64: "A".repeat(43), x: 1 }, /unknown member/],
    [{ v: 2, i: "x", c: [{ i: "a", x: 1 }], s64: "A".repeat(43) }, /unknown member/],
    [{ v: 2, i: "x", c: {}, s64: "A".repeat(43) }, /array/],
  ])("refuses %j", (x, re) => {
    expect(expectQcapError(() => decodeMacaroonV2(x), "input").message).toMatch(re);
  });
});
