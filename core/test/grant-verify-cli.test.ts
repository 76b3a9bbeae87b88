/**
 * `verify --cap` runs the same grant check as `open`: a grant whose appended caveats do not follow
 * from the macaroon signature, with random wrapped keys, is refused with an identity and never
 * reported as "grant OK" without one; what was not checked is listed.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { qcap, tempDir } from "./helpers.js";

const tmp = tempDir("qcap-grant-verify-");
const dir = (...p: string[]) => join(tmp.path, ...p);
const env = { QCAP_NOW: "2030-01-01T00:00:00Z", QCAP_STATE_DIR: dir("state"), QCAP_CONFIG_DIR: dir("cfg") };
const q = (args: string[]) => qcap(args, { env });
const issuer = dir("issuer.key");
const alice = dir("alice.key");
const bob = dir("bob.key");
const capsule = dir("data.qcap");
const cap = dir("cap.json");
const recipientOf = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.recipient as string;

/** The attack: caveats appended without recomputing the macaroon signature, random wrapped keys. */
function forged(): string {
  const g = JSON.parse(readFileSync(cap, "utf8"));
  g.macaroon.c.push({ i: "path payload/public/readme.txt" });
  g.keys.ciphertext = randomBytes(200).toString("hex");
  writeFileSync(dir("forged.json"), JSON.stringify(g, null, 2));
  return dir("forged.json");
}

beforeAll(() => {
  mkdirSync(dir("src", "public"), { recursive: true });
  writeFileSync(dir("src", "public", "readme.txt"), "public readme\n");
  writeFileSync(dir("src", "secret.txt"), "secret\n");
  for (const k of [issuer, alice, bob]) expect(q(["keygen", "-o", k, "--unprotected"]).code).toBe(0);
  expect(q(["pack", dir("src"), "-o", capsule, "--sign-key", issuer, "-r", issuer]).code).toBe(0);
  const g = q([
    "grant",
    capsule,
    "-i",
    issuer,
    "--to",
    recipientOf(alice),
    "--paths",
    "public/**",
    "-o",
    cap,
  ]);
  expect(g.code, g.stderr).toBe(0);
});
afterAll(() => tmp.remove());

describe("verify --cap", () => {
  it("an honest grant with its audience's identity is OK, keys unwrapped", () => {
    const r = q(["verify", capsule, "--cap", cap, "-i", alice]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^grant OK: [0-9a-f]{32} for [0-9a-f]{16}, expires never, 1 entry unwrapped$/m);
    expect(r.stdout).toMatch(/not checked: macaroon chain/);
    const j = JSON.parse(q(["verify", capsule, "--cap", cap, "-i", alice, "--json"]).stdout);
    expect(j.grant).toMatchObject({ verified: true, entryCount: 1, chainVerified: false });
  });

  it("with an identity that unlocks the capsule, the macaroon chain is recomputed", () => {
    const j = JSON.parse(q(["verify", capsule, "--cap", cap, "-i", alice, "-i", issuer, "--json"]).stdout);
    expect(j.grant).toMatchObject({ verified: true, chainVerified: true });
    expect(j.grant.notChecked).toEqual(["revocation: no --revocations list"]);
  });

  it("without an identity it says what it did not check, and never 'grant OK'", () => {
    const r = q(["verify", capsule, "--cap", cap]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/grant OK/);
    expect(r.stdout).toMatch(/^grant NOT fully checked: /m);
    expect(r.stdout).toMatch(/not checked: keys not opened: no --identity/);
    const j = JSON.parse(q(["verify", capsule, "--cap", cap, "--json"]).stdout);
    expect(j.grant.verified).toBe(false);
    expect(j.grant.notChecked).toContain(
      "keys not opened: no --identity (audience and granted keys unauthenticated)",
    );
  });

  it("refuses the forged grant with the audience's identity, as open does", () => {
    const f = forged();
    const v = q(["verify", capsule, "--cap", f, "-i", alice]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^qcap: the grant was tampered with: its keys do not open/);
    expect(v.stdout).not.toMatch(/grant OK/);
    const o = q(["open", capsule, "--cap", f, "-i", alice, "-o", dir("out")]);
    expect(o.code).toBe(1);
    expect(o.stderr).toBe(v.stderr);
  });

  it("refuses the forged grant when the root key is known, even without the audience", () => {
    const v = q(["verify", capsule, "--cap", forged(), "-i", issuer]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^qcap: the grant was tampered with: its macaroon signature does not follow/);
    // the honest grant passes the chain, its keys unopened by the issuer
    const j = JSON.parse(q(["verify", capsule, "--cap", cap, "-i", issuer, "--json"]).stdout);
    expect(j.grant).toMatchObject({ verified: false, chainVerified: true });
    expect(j.grant.notChecked[0]).toMatch(/^keys not opened: no identity of the audience [0-9a-f]{16}/);
    const o = q(["open", capsule, "--cap", cap, "-i", issuer, "-o", dir("out2")]);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/^qcap: the grant is for the audience [0-9a-f]{16}, not for these identities$/m);
  });

  it("does not report the forged grant OK without an identity", () => {
    const r = q(["verify", capsule, "--cap", forged()]);
    expect(r.stdout).not.toMatch(/grant OK/);
    expect(r.stdout).toMatch(
      /not checked: keys not opened: no --identity \(audience, granted keys and the 1 appended caveats unauthenticated\)/,
    );
  });

  it("refuses a grant for another identity, and --cap-identity without --cap", () => {
    const r = q(["verify", capsule, "--cap", cap, "-i", bob]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not for this identity/);
    const u = q(["verify", capsule, "-i", alice]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--cap-identity applies to a grant/);
  });
});
