/**
 * Key files and key strings: mutated key files (clear and protected) and arbitrary strings given as
 * recipients, identities or public keys are refused with typed errors, never anything else.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, test } from "vitest";
import { parseTrustStore } from "../../src/cli/trust.js";
import { parseIdentity, parseRecipient } from "../../src/keys/age.js";
import { parsePublicKey } from "../../src/keys/ed25519.js";
import { generateKeyFile, loadKeyMaterial, serializeKeyFile } from "../../src/keys/keyfile.js";
import { isProtectedKeyFile, keyFilePublic } from "../../src/keys/keyfile-protected.js";
import { mutateText, mutations, params, timeout, typedOnly } from "./fuzz-helpers.js";

const protectedFile = JSON.stringify(
  JSON.parse(readFileSync(new URL("../../test-vectors/keyfiles.json", import.meta.url), "utf8")).file,
  null,
  2,
);
const clearFile = serializeKeyFile(generateKeyFile());

describe("fuzz: key files", () => {
  test(
    "mutated key files throw only typed errors",
    () => {
      fc.assert(
        fc.property(mutations, (ms) => {
          typedOnly(() => loadKeyMaterial(mutateText(clearFile, ms)));
          const p = mutateText(protectedFile, ms);
          typedOnly(() => isProtectedKeyFile(p) && keyFilePublic(p));
        }),
        params,
      );
    },
    timeout,
  );

  test(
    "key strings and trust stores throw only typed errors",
    () => {
      const prefixed = fc.oneof(
        fc.string({ maxLength: 90 }),
        fc.string({ maxLength: 70 }).map((s) => `age1${s}`),
        fc.string({ maxLength: 80 }).map((s) => `AGE-SECRET-KEY-1${s}`),
        fc.stringMatching(/^[0-9a-fA-F]{60,68}$/),
        fc.string({ maxLength: 80 }).map((s) => `-----BEGIN PUBLIC KEY-----\n${s}\n-----END PUBLIC KEY-----`),
      );
      fc.assert(
        fc.property(prefixed, (s) => {
          typedOnly(() => parseRecipient(s));
          typedOnly(() => parseIdentity(s));
          typedOnly(() => parsePublicKey(s));
          typedOnly(() => parseTrustStore(s, "trusted"));
        }),
        params,
      );
    },
    timeout,
  );
});
