/** Attacker-sized lists in a grant are refused by their length before anything in them is checked. */
import { beforeAll, expect, test } from "vitest";
import type { Capsule } from "../src/capsule/capsule.js";
import { unlockMasterKey } from "../src/capsule/unlock.js";
import { utf8 } from "../src/crypto/bytes.js";
import { type Grant, issueGrant, MAX_CAVEATS, parseGrant, serializeGrant } from "../src/grant/grant.js";
import { appendCaveats } from "../src/grant/macaroon.js";
import { parseRfc3339 } from "../src/grant/time.js";
import { alice, issuerKey, owner, sealedCapsule } from "./grant-helpers.js";

const NOW = parseRfc3339("2030-01-01T00:00:00Z") as number;
let capsule: Capsule;
let grant: Grant;

beforeAll(async () => {
  capsule = await sealedCapsule();
  const master = await unlockMasterKey(capsule, { identities: [owner.secret] });
  grant = await issueGrant(capsule, master, { signingKey: issuerKey, audience: alice.publicKey, now: NOW });
});

/** The grant with caveats appended until its token holds `n`. */
function withCaveats(n: number): string {
  const extra = n - grant.macaroon.caveats.length;
  const caveats = Array.from({ length: extra }, () => utf8("expires < 2031-01-01T00:00:00Z"));
  return serializeGrant({ ...grant, macaroon: appendCaveats(grant.macaroon, caveats) });
}

test("a token of 64 caveats parses; 65 or 100000 are refused as malformed", () => {
  expect(MAX_CAVEATS).toBe(64);
  expect(parseGrant(withCaveats(64)).macaroon.caveats.length).toBe(64);
  expect(() => parseGrant(withCaveats(65))).toThrow("malformed grant: more than 64 caveats");
  expect(() => parseGrant(withCaveats(100_000))).toThrow("malformed grant: more than 64 caveats");
});
