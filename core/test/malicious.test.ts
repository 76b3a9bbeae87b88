/**
 * Archives an attacker could build: each is refused with a clear error before anything is trusted.
 * Most are version 1 layouts (read through the version 1 adaptor); index-v2.test.ts has the version 2
 * index counterparts.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import canonicalizeModule from "canonicalize";
import { describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { QcapError } from "../src/errors.js";
import { toHex } from "../src/hash/hex.js";
import { bytesSource } from "../src/io/source.js";
import {
  openBytes,
  packBytes,
  plainEntry,
  rawZip,
  rootOf,
  sampleInputs,
  signedCapsule,
  signingKey,
  text,
} from "./helpers.js";
import { assemble, entriesOf } from "./v2-craft.js";

const canonicalize = canonicalizeModule as unknown as (x: unknown) => string;

async function refusal(bytes: Uint8Array): Promise<QcapError> {
  const err = await Capsule.open(bytesSource(bytes))
    .then((c) => c.verifyAll())
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(QcapError);
  return err as QcapError;
}

function manifestFor(entries: ReturnType<typeof plainEntry>[]) {
  return { qcap: 1, chunkSize: 65536, entries, root: rootOf(entries), seal: null };
}

describe("malicious archives", () => {
  it("accepts the crafted baseline (so the refusals below are about the one change)", async () => {
    const a = text("a");
    const c = await openBytes(
      signedCapsule(manifestFor([plainEntry("payload/a", a)]), [{ name: "payload/a", bytes: a }]),
    );
    await c.verifyAll();
  });

  it("refuses entries that the manifest does not list", async () => {
    const a = text("a");
    const bytes = signedCapsule(manifestFor([plainEntry("payload/a", a)]), [
      { name: "payload/a", bytes: a },
      { name: "payload/extra", bytes: text("sneaky") },
    ]);
    expect((await refusal(bytes)).message).toMatch(/layout does not match/);
  });

  it("refuses duplicate entry names", async () => {
    const a = text("a");
    const bytes = signedCapsule(manifestFor([plainEntry("payload/a", a)]), [
      { name: "payload/a", bytes: a },
      { name: "payload/a", bytes: a },
    ]);
    expect((await refusal(bytes)).message).toMatch(/duplicate/i);
  });

  for (const name of [
    "payload/../evil",
    "/etc/passwd",
    "payload\\..\\evil",
    "payload/a\0b",
    "payload//x",
    "payload/./x",
  ]) {
    it(`refuses the path ${JSON.stringify(name)} even in a signed manifest`, async () => {
      const b = text("x");
      const bytes = signedCapsule(manifestFor([plainEntry(name, b)]), [{ name, bytes: b }]);
      const err = await refusal(bytes);
      expect(err.kind).toBe("format");
    });
  }

  it("refuses symlink entries (mode bits in the central directory)", async () => {
    const a = text("/etc/passwd");
    const e = plainEntry("payload/link", a);
    const bytes = signedCapsule(manifestFor([e]), [{ name: "payload/link", bytes: a }]);
    // External attributes sit 38 bytes into the central directory header: make it a symlink.
    const cd = Buffer.from(bytes).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    new DataView(bytes.buffer).setUint32(cd + 38, (0o120777 << 16) >>> 0, true);
    await refusal(bytes);
  });

  it("refuses a central directory that disagrees with the local headers", async () => {
    const good = await packBytes(sampleInputs());
    const bytes = good.slice();
    // The first local header's name starts at byte 30: change one letter there only.
    bytes[30 + 8] = (bytes[30 + 8] as number) ^ 0x20;
    const c = await Capsule.open(bytesSource(bytes));
    await expect(c.verifyAll()).rejects.toThrow(/local header/);
  });

  it("refuses a huge declared size (zip bomb) without reading it", async () => {
    // Version 1: the signed manifest's size does not fit the file.
    const tiny = text("tiny");
    const m = manifestFor([{ ...plainEntry("payload/a", tiny), size: 2 ** 50 }]);
    await refusal(signedCapsule(m, [{ name: "payload/a", bytes: tiny }]));
    // Version 2: a signed leaf record whose size reaches past the index.
    const entries = await entriesOf(await packBytes([...sampleInputs()]));
    const bomb = assemble(entries, {
      leaf: (r, i) => {
        if (i === 0) r.size = 2 ** 50;
      },
    });
    const err = await refusal(bomb);
    expect(err.message).toMatch(/beyond the root page/);
  });

  it("refuses an unsigned capsule and a wrongly signed one", async () => {
    const a = text("a");
    const m = { ...manifestFor([plainEntry("payload/a", a)]), issuer: "00".repeat(32) };
    const unsigned = rawZip([
      { name: "payload/a", bytes: a },
      { name: "manifest.json", bytes: text(JSON.stringify(m)) },
    ]);
    expect((await refusal(unsigned)).message).toMatch(/manifest\.json and its signature/);
    // The manifest names key 1 as its issuer but key 2 signed it.
    const m1 = { ...manifestFor([plainEntry("payload/a", a)]), issuer: toHex(signingKey(1).publicKey) };
    const mBytes = text(canonicalize(m1));
    const forged = rawZip([
      { name: "payload/a", bytes: a },
      { name: "manifest.json", bytes: mBytes },
      { name: "signatures/manifest.ed25519", bytes: ed25519.sign(mBytes, signingKey(2).seed) },
    ]);
    expect((await refusal(forged)).message).toMatch(/signature is invalid/);
  });

  it("refuses a manifest with an unknown version", async () => {
    const a = text("a");
    const bytes = signedCapsule({ ...manifestFor([plainEntry("payload/a", a)]), qcap: 3 }, [
      { name: "payload/a", bytes: a },
    ]);
    expect((await refusal(bytes)).message).toBe("format version 3 is not supported by this release");
    // A version 2 manifest in a version 1 layout (no index) is refused too.
    const v2 = signedCapsule({ ...manifestFor([plainEntry("payload/a", a)]), qcap: 2 }, [
      { name: "payload/a", bytes: a },
    ]);
    expect((await refusal(v2)).message).toMatch(/version 2 manifest without its index/);
  });

  it("refuses a manifest that is not canonical or has unknown members", async () => {
    const a = text("a");
    const extra = signedCapsule({ ...manifestFor([plainEntry("payload/a", a)]), note: "hi" }, [
      { name: "payload/a", bytes: a },
    ]);
    expect((await refusal(extra)).message).toMatch(/unknown member "note"/);
  });
});
