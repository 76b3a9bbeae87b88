/** Inputs the property tests found that once escaped as untyped errors, kept as regression tests. */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { QcapError } from "../../src/errors.js";
import { parseGrant } from "../../src/grant/grant.js";
import { keyFilePublic } from "../../src/keys/keyfile-protected.js";

const vectors = (f: string) =>
  JSON.parse(readFileSync(new URL(`../../test-vectors/${f}`, import.meta.url), "utf8"));

describe("fuzz regressions", () => {
  test("a protected key file whose ciphertext has an odd number of hex digits is malformed", () => {
    const file = vectors("keyfiles.json").file;
    file.protected.ciphertext = file.protected.ciphertext.slice(1);
    expect(() => keyFilePublic(JSON.stringify(file))).toThrow(QcapError);
    expect(() => keyFilePublic(JSON.stringify(file))).toThrow(/ciphertext" must be lowercase hex/);
  });

  test("a grant whose wrapped keys have an odd number of hex digits is malformed", () => {
    const file = vectors("grants.json").grant.file;
    file.keys.ciphertext = file.keys.ciphertext.slice(1);
    expect(() => parseGrant(JSON.stringify(file))).toThrow(
      /malformed grant: keys.ciphertext must be lowercase hex/,
    );
  });
});
