/**
 * Capsules, ZIP records, central directory and manifest: a mutated capsule (bit flips, set bytes,
 * truncation, insertions, deletions anywhere) is refused with a typed error and never verifies
 * unless its bytes are unchanged; the manifest parser throws nothing but typed errors.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, test } from "vitest";
import { Capsule } from "../../src/capsule/capsule.js";
import { bytesInput } from "../../src/capsule/pack.js";
import { plainChunks } from "../../src/capsule/read.js";
import { masterEntryKeys, unlockMasterKey } from "../../src/capsule/unlock.js";
import { encodeManifest, type Manifest, parseManifest } from "../../src/format/manifest.js";
import { bytesSource } from "../../src/io/source.js";
import { generateIdentity } from "../../src/keys/age.js";
import { readCentralDirectory } from "../../src/zip/reader.js";
import { packBytes, pseudoRandom, text } from "../helpers.js";
import {
  equalBytes,
  mutate,
  mutateText,
  mutations,
  params,
  timeout,
  typedOnly,
  typedOnlyAsync,
} from "./fuzz-helpers.js";

const reader = generateIdentity();
const inputs = () => [
  bytesInput("payload/a.txt", text("hello\n")),
  bytesInput("payload/d/big.bin", pseudoRandom(70_000, 5)),
  bytesInput("meta/item.json", text('{"type":"Feature"}')),
];
let plain: Uint8Array;
let sealed: Uint8Array;

beforeAll(async () => {
  plain = await packBytes(inputs());
  sealed = await packBytes(inputs(), { recipients: [reader.publicKey], hideNames: true });
});

/** Opens, verifies every byte and, when sealed, decrypts every entry. */
async function openAll(bytes: Uint8Array): Promise<void> {
  const c = await Capsule.open(bytesSource(bytes));
  await c.verifyAll();
  const keys = c.sealed
    ? masterEntryKeys(c, await unlockMasterKey(c, { identities: [reader.secret] }))
    : undefined;
  for await (const e of c.entries()) for await (const _ of plainChunks(c, e.name, keys));
}

describe("fuzz: capsules", () => {
  test("the originals open", async () => {
    await openAll(plain);
    await openAll(sealed);
  });

  for (const kind of ["unsealed", "sealed"] as const) {
    test(
      `a mutated ${kind} capsule is refused with a typed error unless unchanged`,
      async () => {
        await fc.assert(
          fc.asyncProperty(mutations, async (ms) => {
            const original = kind === "sealed" ? sealed : plain;
            const bytes = mutate(original, ms);
            const ok = await typedOnlyAsync(() => openAll(bytes));
            if (ok) expect(equalBytes(bytes, original), "a changed capsule verified").toBe(true);
          }),
          params,
        );
      },
      timeout,
    );
  }

  test(
    "the central directory reader throws only typed errors",
    async () => {
      await fc.assert(
        fc.asyncProperty(mutations, async (ms) => {
          await typedOnlyAsync(() => readCentralDirectory(bytesSource(mutate(plain, ms))));
        }),
        params,
      );
    },
    timeout,
  );

  test(
    "the manifest parser throws only typed errors",
    async () => {
      const manifest = encodeManifest((await Capsule.open(bytesSource(sealed))).manifest as Manifest);
      const json = new TextDecoder().decode(manifest);
      fc.assert(
        fc.property(mutations, (ms) => {
          typedOnly(() => parseManifest(mutate(manifest, ms)));
          typedOnly(() => parseManifest(new TextEncoder().encode(mutateText(json, ms))));
        }),
        params,
      );
    },
    timeout,
  );
});
