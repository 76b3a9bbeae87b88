/** Grants through the library: issuing, checking, opening, and every way a grant must be refused. */
import { beforeAll, describe, expect, test } from "vitest";
import type { Capsule } from "../src/capsule/capsule.js";
import { masterEntryKeys, unlockMasterKey } from "../src/capsule/unlock.js";
import { fromHex, toHex, utf8 } from "../src/crypto/bytes.js";
import { fileKey, hkdf32, namesKey } from "../src/crypto/kdf.js";
import { attenuateGrant } from "../src/grant/attenuate.js";
import {
  checkGrant,
  type Grant,
  grantEntryKeys,
  grantRootKey,
  issueGrant,
  keysAad,
  parseGrant,
  sealGrantKeys,
  serializeGrant,
} from "../src/grant/grant.js";
import { appendCaveats, chainSignature, verifyMacaroonChain } from "../src/grant/macaroon.js";
import { updateRevocationList } from "../src/grant/revocation.js";
import { parseRfc3339 } from "../src/grant/time.js";
import { expectQcapError, expectQcapErrorAsync } from "./crypto-test-utils.js";
import { alice, bob, files, issuerKey, mallory, owner, read, sealedCapsule } from "./grant-helpers.js";

const NOW = parseRfc3339("2030-01-01T00:00:00Z") as number;
const DAY = 86_400_000;

let capsule: Capsule;
let master: Uint8Array;
let grant: Grant;

const issue = async (o: Partial<Parameters<typeof issueGrant>[2]> = {}, c = capsule, mk = master) =>
  issueGrant(c, mk, {
    signingKey: issuerKey,
    audience: alice.publicKey,
    paths: ["payload/public/**"],
    expires: NOW + 30 * DAY,
    now: NOW,
    ...o,
  });

/** A deep copy through the file format, so tests can edit freely. */
const copy = (g: Grant): Grant => parseGrant(serializeGrant(g));

beforeAll(async () => {
  capsule = await sealedCapsule();
  master = await unlockMasterKey(capsule, { identities: [owner.secret] });
  grant = await issue();
});

describe("a grant opens exactly its paths", () => {
  test("the audience reads the granted entries and nothing else", async () => {
    const c = checkGrant(grant, { now: NOW, capsule, identity: alice.secret });
    expect(c.entries?.map((e) => e.name).sort()).toEqual([
      "payload/public/data/table.csv",
      "payload/public/notes.md",
      "payload/public/readme.txt",
    ]);
    expect(c.effective).toMatchObject({ allow: "read", paths: ["payload/public/**"] });
    expect(c.appended).toBe(0);
    const keys = grantEntryKeys(grant, c.entries ?? []);
    expect(await read(capsule, "payload/public/data/table.csv", keys)).toEqual(
      files["payload/public/data/table.csv"],
    );
    const e = await expectQcapErrorAsync(
      () => read(capsule, "payload/private/secret.txt", keys),
      "unauthorized",
    );
    expect(e.message).toMatch(/no key for payload\/private\/secret.txt/);
  });

  test("the macaroon chain verifies under the capsule's root key, and under no other", async () => {
    const capsuleId = fromHex(capsule.manifest.seal?.capsuleId as string);
    expect(verifyMacaroonChain(grant.macaroon, grantRootKey(master, capsuleId))).toBe(true);
    expect(verifyMacaroonChain(grant.macaroon, new Uint8Array(32))).toBe(false);
    expect(grant.macaroon.caveats.map((c) => new TextDecoder().decode(c))).toEqual([
      `capsule = ${capsule.manifest.root}`,
      `aud = ${toHex(fromHex(grant.keys.kid))}`,
      "allow = read",
      "expires < 2030-01-31T00:00:00Z",
      "path payload/public/**",
    ]);
    expect(grant.issued.id).toMatch(/^[0-9a-f]{32}$/);
    expect((await issue()).issued.id).not.toBe(grant.issued.id);
  });

  test("several paths become one union glob", async () => {
    const g = await issue({ paths: ["payload/public/*.md", "payload/private/secret.txt"] });
    const c = checkGrant(g, { now: NOW, capsule, identity: alice.secret });
    expect(c.entries?.map((e) => e.name).sort()).toEqual([
      "payload/private/secret.txt",
      "payload/public/notes.md",
    ]);
    expect(c.effective.paths).toEqual(["{payload/public/*.md,payload/private/secret.txt}"]);
  });
});

describe("crypto, not a check, enforces the paths", () => {
  test("the unwrapped keys hold no master key, names key or key of another entry", () => {
    const c = checkGrant(grant, { now: NOW, capsule, identity: alice.secret });
    const capsuleId = fromHex(grant.issued.capsuleId);
    const held = (c.entries ?? []).map((e) => toHex(e.key as Uint8Array));
    const forbidden = [
      toHex(master),
      toHex(namesKey(master, capsuleId)),
      ...Object.keys(files)
        .filter((n) => n.startsWith("payload/private/"))
        .map((n) => toHex(fileKey(master, capsuleId, n))),
    ];
    const everything = `${serializeGrant(grant)} ${held.join(" ")}`;
    for (const f of forbidden) expect(everything).not.toContain(f);
  });

  test("a forged EntryKeys that hands a granted key to every entry decrypts nothing else", async () => {
    const c = checkGrant(grant, { now: NOW, capsule, identity: alice.secret });
    const key = (c.entries ?? [])[0]?.key as Uint8Array;
    const forged = { capsuleId: fromHex(grant.issued.capsuleId), fileKey: () => key };
    await expectQcapErrorAsync(() => read(capsule, "payload/private/secret.txt", forged), "decrypt");
  });

  test("keys derived from a granted key the way file keys are derived open nothing", async () => {
    const c = checkGrant(grant, { now: NOW, capsule, identity: alice.secret });
    const capsuleId = fromHex(grant.issued.capsuleId);
    for (const e of c.entries ?? []) {
      const guess = hkdf32(
        e.key as Uint8Array,
        capsuleId,
        utf8("qcap/v1 file key\0payload/private/secret.txt"),
      );
      const forged = { capsuleId, fileKey: () => guess };
      await expectQcapErrorAsync(() => read(capsule, "payload/private/secret.txt", forged), "decrypt");
    }
  });

  test("editing the path caveat breaks the issuer's signature; keeping the signed part breaks the chain", () => {
    const g = copy(grant);
    const wide = utf8("path payload/**");
    g.macaroon.caveats[4] = wide;
    g.issued.caveats[4] = "path payload/**";
    expect(
      expectQcapError(() => checkGrant(g, { now: NOW, capsule, identity: alice.secret }), "integrity")
        .message,
    ).toMatch(/signature does not verify/);
    const h = copy(grant);
    h.macaroon.caveats[4] = wide;
    expect(
      expectQcapError(() => checkGrant(h, { now: NOW, capsule, identity: alice.secret }), "integrity")
        .message,
    ).toMatch(/removed, changed or reordered/);
  });

  test("a holder who re-wraps its keys under a widened token still holds only its keys", async () => {
    // Alice appends a path caveat that matches everything and re-wraps what she has: still 3 entries.
    const c = checkGrant(grant, { now: NOW, capsule, identity: alice.secret });
    const m = appendCaveats(grant.macaroon, [utf8("path payload/**")]);
    const g: Grant = {
      ...grant,
      macaroon: m,
      keys: sealGrantKeys(c.entries ?? [], alice.publicKey, keysAad(grant.issued, m)),
    };
    const again = checkGrant(g, { now: NOW, capsule, identity: alice.secret });
    expect(again.entries).toHaveLength(3);
    await expectQcapErrorAsync(
      () => read(capsule, "payload/private/secret.txt", grantEntryKeys(g, again.entries ?? [])),
      "unauthorized",
    );
  });

  test("keys swapped in from another grant are refused", async () => {
    const other = await issue({ paths: ["payload/private/**"] });
    const g = { ...copy(grant), keys: other.keys };
    const e = expectQcapError(
      () => checkGrant(g, { now: NOW, capsule, identity: alice.secret }),
      "integrity",
    );
    expect(e.message).toMatch(/keys do not open with its token/);
  });

  test("keys smuggled in under the right token but not granted by the issuer are refused", () => {
    // Even the issuer's own keys: a holder cannot add an entry the signed part does not commit to.
    const capsuleId = fromHex(grant.issued.capsuleId);
    const c = checkGrant(grant, { now: NOW, capsule, identity: alice.secret });
    const extra = {
      entry: "payload/public/zzz",
      name: "payload/public/zzz",
      key: fileKey(master, capsuleId, "payload/public/zzz"),
      tag: new Uint8Array(32),
    };
    const g = {
      ...grant,
      keys: sealGrantKeys(
        [...(c.entries ?? []), extra],
        alice.publicKey,
        keysAad(grant.issued, grant.macaroon),
      ),
    };
    expect(
      expectQcapError(() => checkGrant(g, { now: NOW, capsule, identity: alice.secret }), "integrity")
        .message,
    ).toMatch(/did not grant/);
  });
});

describe("refusals", () => {
  const check = (g: Grant, o: Partial<Parameters<typeof checkGrant>[1]> = {}) =>
    checkGrant(g, { now: NOW, capsule, identity: alice.secret, ...o });

  test("forged macaroon signature", () => {
    const g = copy(grant);
    (g.macaroon.signature[0] as number) ^= 1;
    expect(expectQcapError(() => check(g), "integrity").message).toMatch(/macaroon signature is forged/);
  });

  test("caveat removed", () => {
    const g = copy(grant);
    g.macaroon.caveats.splice(3, 1);
    g.macaroon.signature = chainSignature(g.macaroon.signature, []);
    expect(expectQcapError(() => check(g), "integrity").message).toMatch(/removed, changed or reordered/);
  });

  test("caveats reordered", () => {
    const g = copy(grant);
    [g.macaroon.caveats[3], g.macaroon.caveats[4]] = [
      g.macaroon.caveats[4] as Uint8Array,
      g.macaroon.caveats[3] as Uint8Array,
    ];
    expect(expectQcapError(() => check(g), "integrity").message).toMatch(/removed, changed or reordered/);
  });

  test("a grant for another capsule", async () => {
    const other = await sealedCapsule();
    const e = expectQcapError(() => check(grant, { capsule: other }), "unauthorized");
    expect(e.message).toMatch(/for another capsule/);
  });

  test("a grant used by another identity", () => {
    const e = expectQcapError(() => check(grant, { identity: mallory.secret }), "unauthorized");
    expect(e.message).toMatch(/for the audience [0-9a-f]{16}, not for this identity/);
  });

  test("an expired grant, with the clock passed explicitly", () => {
    expect(() => check(grant, { now: NOW + 30 * DAY - 1 })).not.toThrow();
    const e = expectQcapError(() => check(grant, { now: NOW + 30 * DAY }), "unauthorized");
    expect(e.message).toBe("the grant expired at 2030-01-31T00:00:00Z");
  });

  test("a revoked id", () => {
    const list = updateRevocationList(null, {
      key: issuerKey,
      ids: [grant.issued.id],
      reason: "key lost",
      now: NOW,
      validity: 7 * DAY,
    });
    const e = expectQcapError(() => check(grant, { revocations: list }), "unauthorized");
    expect(e.message).toMatch(new RegExp(`${grant.issued.id} is revoked \\(key lost`));
  });

  test("malformed JSON and malformed structure", () => {
    const text = serializeGrant(grant);
    expectQcapError(() => parseGrant(text.slice(0, 100)), "input");
    expectQcapError(() => parseGrant("[]"), "input");
    expectQcapError(() => parseGrant(text.replace('"version": 1', '"version": 2')), "input");
    expectQcapError(() => parseGrant(text.replace('"keys": {', '"extra": 1, "keys": {')), "input");
  });

  test("an unknown caveat fails closed, even appended by the audience itself", () => {
    const c = check(grant);
    const m = appendCaveats(grant.macaroon, [utf8("ip = 10.0.0.1")]);
    const g: Grant = {
      ...grant,
      macaroon: m,
      keys: sealGrantKeys(c.entries ?? [], alice.publicKey, keysAad(grant.issued, m)),
    };
    const e = expectQcapError(() => check(g), "unauthorized");
    expect(e.message).toMatch(/unknown caveat "ip = 10.0.0.1".*never ignored/);
    for (const bad of [
      "expires < tomorrow",
      "allow = write",
      "path payload/[x]",
      "aud = AB",
      "purpose = two words",
    ]) {
      const m2 = appendCaveats(grant.macaroon, [utf8(bad)]);
      const g2: Grant = {
        ...grant,
        macaroon: m2,
        keys: sealGrantKeys(c.entries ?? [], alice.publicKey, keysAad(grant.issued, m2)),
      };
      expect(expectQcapError(() => check(g2), "unauthorized").message).toMatch(/malformed caveat/);
    }
  });

  test("a third-party caveat fails closed", () => {
    const json = JSON.parse(serializeGrant(grant));
    json.macaroon.c.push({ i: "third", v64: "AAAA", l: "https://example.invalid" });
    expect(expectQcapError(() => parseGrant(JSON.stringify(json)), "unauthorized").message).toMatch(
      /third-party/,
    );
  });

  test("a signature by a key other than the capsule's issuer", async () => {
    const g = await issue();
    const other = { seed: new Uint8Array(32).fill(12), publicKey: new Uint8Array(32) };
    await expectQcapErrorAsync(() => issue({ signingKey: other }), "usage");
    // A grant re-signed by someone else: the signature is over the same bytes, but by the wrong key.
    g.issued = { ...g.issued, issuer: toHex(fromHex(g.issued.issuer).map((b, i) => (i === 0 ? b ^ 1 : b))) };
    expectQcapError(() => check(g), "integrity");
  });

  test("purpose must be declared", async () => {
    const g = await issue({ purpose: "research" });
    expect(expectQcapError(() => check(g), "unauthorized").message).toMatch(/--purpose research/);
    expect(expectQcapError(() => check(g, { purpose: "ads" }), "unauthorized").message).toMatch(/not "ads"/);
    expect(check(g, { purpose: "research" }).entries).toHaveLength(3);
  });

  test("inspect grants carry names but no keys", async () => {
    const g = await issue({ allow: "inspect" });
    const c = check(g);
    expect(c.effective.allow).toBe("inspect");
    expect(c.entries?.every((e) => e.key === undefined)).toBe(true);
    const keys = grantEntryKeys(g, c.entries ?? []);
    await expectQcapErrorAsync(() => read(capsule, "payload/public/readme.txt", keys), "unauthorized");
  });
});

describe("attenuation", () => {
  test("narrows paths and expiry and hands over to a new audience", async () => {
    const narrower = attenuateGrant(grant, {
      identity: alice.secret,
      to: bob.publicKey,
      paths: ["payload/public/*.md"],
      expires: NOW + 7 * DAY,
      now: NOW,
    });
    const c = checkGrant(narrower, { now: NOW, capsule, identity: bob.secret });
    expect(c.appended).toBe(3);
    expect(c.entries?.map((e) => e.name)).toEqual(["payload/public/notes.md"]);
    expect(c.effective.expires).toBe(NOW + 7 * DAY);
    expect(c.effective.paths).toEqual(["payload/public/**", "payload/public/*.md"]);
    expect(await read(capsule, "payload/public/notes.md", grantEntryKeys(narrower, c.entries ?? []))).toEqual(
      files["payload/public/notes.md"],
    );
    // Alice's identity no longer opens the narrower grant; the chain still verifies under the root key.
    expectQcapError(
      () => checkGrant(narrower, { now: NOW, capsule, identity: alice.secret }),
      "unauthorized",
    );
    const capsuleId = fromHex(grant.issued.capsuleId);
    expect(verifyMacaroonChain(narrower.macaroon, grantRootKey(master, capsuleId))).toBe(true);
    expectQcapError(
      () => checkGrant(narrower, { now: NOW + 7 * DAY, capsule, identity: bob.secret }),
      "unauthorized",
    );
  });

  test("cannot widen: a later expiry is refused, a wider glob changes nothing", () => {
    expectQcapError(
      () => attenuateGrant(grant, { identity: alice.secret, expires: NOW + 60 * DAY, now: NOW }),
      "usage",
    );
    const wide = attenuateGrant(grant, {
      identity: alice.secret,
      to: bob.publicKey,
      paths: ["payload/**"],
      now: NOW,
    });
    expect(checkGrant(wide, { now: NOW, capsule, identity: bob.secret }).entries).toHaveLength(3);
    expectQcapError(
      () => attenuateGrant(grant, { identity: alice.secret, paths: ["payload/private/**"], now: NOW }),
      "usage",
    );
    expectQcapError(
      () => attenuateGrant(grant, { identity: bob.secret, to: bob.publicKey, now: NOW }),
      "unauthorized",
    );
  });

  test("removing an appended caveat or forging the final signature is detected", () => {
    const narrower = attenuateGrant(grant, {
      identity: alice.secret,
      to: bob.publicKey,
      expires: NOW + 2 * DAY,
      now: NOW,
    });
    const g = copy(narrower);
    g.macaroon.caveats.pop();
    expect(
      expectQcapError(() => checkGrant(g, { now: NOW, capsule, identity: bob.secret }), "integrity").message,
    ).toMatch(/do not open with its token/);
    const h = copy(narrower);
    (h.macaroon.signature[5] as number) ^= 0x40;
    expectQcapError(() => checkGrant(h, { now: NOW, capsule, identity: bob.secret }), "integrity");
  });

  test("to inspect only, and chained twice", () => {
    const toBob = attenuateGrant(grant, { identity: alice.secret, to: bob.publicKey, now: NOW });
    const toMallory = attenuateGrant(toBob, {
      identity: bob.secret,
      to: mallory.publicKey,
      allow: "inspect",
      now: NOW,
    });
    const c = checkGrant(toMallory, { now: NOW, capsule, identity: mallory.secret });
    expect(c.effective.allow).toBe("inspect");
    expect(c.effective.audiences).toHaveLength(3);
    expect(c.entries?.every((e) => !e.key)).toBe(true);
    expectQcapError(
      () => attenuateGrant(toMallory, { identity: mallory.secret, allow: "read", now: NOW }),
      "usage",
    );
  });
});

describe("hidden names", () => {
  test("a grant carries the real names of its entries only", async () => {
    const hidden = await sealedCapsule({ hideNames: true });
    const mk = await unlockMasterKey(hidden, { identities: [owner.secret] });
    const g = await issue({}, hidden, mk);
    const c = checkGrant(g, { now: NOW, capsule: hidden, identity: alice.secret });
    const names = (c.entries ?? []).map((e) => e.name).sort();
    expect(names).toEqual([
      "payload/public/data/table.csv",
      "payload/public/notes.md",
      "payload/public/readme.txt",
    ]);
    expect((c.entries ?? []).every((e) => /^payload\/[0-9a-f]{32}$/.test(e.entry))).toBe(true);
    const notes = (c.entries ?? []).find((e) => e.name === "payload/public/notes.md");
    expect(await read(hidden, notes?.entry as string, grantEntryKeys(g, c.entries ?? []))).toEqual(
      files["payload/public/notes.md"],
    );
    expect(serializeGrant(g)).not.toContain("private");
    // The master-key path still works for the owner.
    expect(await read(hidden, notes?.entry as string, masterEntryKeys(hidden, mk))).toEqual(
      files["payload/public/notes.md"],
    );
  });
});
