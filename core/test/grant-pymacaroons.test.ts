/**
 * Interop: pymacaroons (a standard macaroon library) parses the libmacaroons v2 JSON of qcap tokens
 * and, given the capsule's root key, verifies their chains, attenuated ones included; it refuses a
 * forged signature and a removed caveat. CI installs pymacaroons (see .ci/run).
 */
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, test } from "vitest";
import type { Capsule } from "../src/capsule/capsule.js";
import { unlockMasterKey } from "../src/capsule/unlock.js";
import { fromHex, toHex } from "../src/crypto/bytes.js";
import { attenuateGrant } from "../src/grant/attenuate.js";
import { grantRootKey, issueGrant, serializeGrant } from "../src/grant/grant.js";
import { encodeMacaroonV2 } from "../src/grant/macaroon.js";
import { parseRfc3339 } from "../src/grant/time.js";
import { alice, bob, issuerKey, owner, sealedCapsule } from "./grant-helpers.js";

const hasPymacaroons = spawnSync("python3", ["-c", "import pymacaroons"]).status === 0;
const NOW = parseRfc3339("2030-01-01T00:00:00Z") as number;

/** Verifies with pymacaroons: every caveat must be one of `expected` (exact match), nothing else. */
const SCRIPT = `
import json, sys
from pymacaroons import Macaroon, Verifier
from pymacaroons.serializers.json_serializer import JsonSerializer
req = json.load(sys.stdin)
m = Macaroon.deserialize(req["token"], serializer=JsonSerializer())
v = Verifier()
for c in req["expected"]:
    v.satisfy_exact(c)
try:
    ok = v.verify(m, bytes.fromhex(req["rootKey"]))
except Exception as e:
    ok = False
print(json.dumps({"ok": bool(ok), "id": m.identifier.decode(), "caveats": [c.caveat_id_bytes.decode() for c in m.caveats]}))
`;

function pyVerify(token: unknown, rootKey: Uint8Array, expected: string[]) {
  const r = spawnSync("python3", ["-c", SCRIPT], {
    input: JSON.stringify({ token: JSON.stringify(token), rootKey: toHex(rootKey), expected }),
    encoding: "utf8",
  });
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as { ok: boolean; id: string; caveats: string[] };
}

describe.runIf(hasPymacaroons || process.env.CI === "true")("pymacaroons verifies qcap tokens", () => {
  let capsule: Capsule;
  let rootKey: Uint8Array;
  let master: Uint8Array;

  beforeAll(async () => {
    capsule = await sealedCapsule();
    master = await unlockMasterKey(capsule, { identities: [owner.secret] });
    rootKey = grantRootKey(master, fromHex(capsule.manifest.seal?.capsuleId as string));
  });

  test("a grant's token, then an attenuated one; forged and cut ones fail", async () => {
    const grant = await issueGrant(capsule, master, {
      signingKey: issuerKey,
      audience: alice.publicKey,
      paths: ["payload/public/**"],
      expires: NOW + 86_400_000,
      purpose: "research",
      now: NOW,
    });
    const token = JSON.parse(serializeGrant(grant)).macaroon;
    const caveats = grant.issued.caveats;
    const r = pyVerify(token, rootKey, caveats);
    expect(r).toEqual({ ok: true, id: grant.issued.id, caveats });

    const narrower = attenuateGrant(grant, {
      identity: alice.secret,
      to: bob.publicKey,
      paths: ["payload/public/*.md"],
      now: NOW,
    });
    const all = narrower.macaroon.caveats.map((c) => new TextDecoder().decode(c));
    expect(pyVerify(encodeMacaroonV2(narrower.macaroon), rootKey, all).ok).toBe(true);
    // The verifier must know every caveat: pymacaroons, like qcap, fails closed on one it cannot satisfy.
    expect(pyVerify(encodeMacaroonV2(narrower.macaroon), rootKey, caveats).ok).toBe(false);

    const sig = Buffer.from(token.s64, "base64url");
    sig[0] = (sig[0] as number) ^ 1;
    const forged = { ...token, s64: sig.toString("base64url") };
    expect(pyVerify(forged, rootKey, caveats).ok).toBe(false);
    const cut = { ...token, c: token.c.slice(0, -1) };
    expect(pyVerify(cut, rootKey, caveats).ok).toBe(false);
    expect(pyVerify(token, new Uint8Array(32).fill(1), caveats).ok).toBe(false);
  });
});
