/**
 * Grants, attenuation and revocation through the built CLI, as a user runs them, with every bad input
 * the CLI must refuse (exit 1 for a refused grant or list, exit 2 for malformed input).
 * The clock is passed explicitly with QCAP_NOW; state and config live in a temporary folder.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { utf8 } from "../src/crypto/bytes.js";
import { checkGrant, keysAad, parseGrant, sealGrantKeys, serializeGrant } from "../src/grant/grant.js";
import { appendCaveats } from "../src/grant/macaroon.js";
import { parseRfc3339 } from "../src/grant/time.js";
import { parseKeyFile } from "../src/keys/keyfile.js";
import { cliPath, qcap, tempDir } from "./helpers.js";

const tmp = tempDir("qcap-grant-cli-");
const dir = (...p: string[]) => join(tmp.path, ...p);
const NOW = "2030-01-01T00:00:00Z";
const env = { QCAP_NOW: NOW, QCAP_STATE_DIR: dir("state"), QCAP_CONFIG_DIR: dir("no-config") };
const q = (args: string[], extra: Record<string, string> = {}) => qcap(args, { env: { ...env, ...extra } });
const ok = (args: string[], extra: Record<string, string> = {}) => {
  const r = q(args, extra);
  expect(r.stderr.replace(/^qcap: warning: .*\n/gm, ""), args.join(" ")).toBe("");
  expect(r.code, args.join(" ")).toBe(0);
  return r;
};
/** A refusal: the exit code and the one-line message. */
const refused = (args: string[], code: 1 | 2, message: RegExp, extra: Record<string, string> = {}) => {
  const r = q(args, extra);
  expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(code);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  return r;
};

const pub = dir("issuer.key");
const alice = dir("alice.key");
const bob = dir("bob.key");
const other = dir("other.key");
const capsule = dir("data.qcap");
const cap = dir("cap.json");
const recipientOf = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.recipient as string;

beforeAll(() => {
  mkdirSync(dir("src", "public", "data"), { recursive: true });
  mkdirSync(dir("src", "private"), { recursive: true });
  writeFileSync(dir("src", "public", "readme.txt"), "public readme\n");
  writeFileSync(dir("src", "public", "data", "t.csv"), "a,b\n1,2\n");
  writeFileSync(dir("src", "private", "secret.txt"), "the secret\n");
  for (const k of [pub, alice, bob, other]) ok(["keygen", "-o", k, "--unprotected"]);
  ok(["pack", dir("src"), "-o", capsule, "--sign-key", pub, "-r", pub]);
  ok([
    "grant",
    capsule,
    "-i",
    pub,
    "--to",
    recipientOf(alice),
    "--paths",
    "public/**",
    "--expires",
    "30d",
    "-o",
    cap,
  ]);
});
afterAll(() => tmp.remove());

/** The files under `root`, relative and sorted; none when it does not exist. */
function files(root: string): string[] {
  const walk = (d: string, pre: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name), `${pre}${e.name}/`) : [`${pre}${e.name}`],
    );
  try {
    return walk(root, "").sort();
  } catch {
    return [];
  }
}

/** Writes an edited copy of the grant file. */
// biome-ignore lint/suspicious/noExplicitAny: tests edit arbitrary JSON
function edit(name: string, f: (g: any) => void): string {
  const g = JSON.parse(readFileSync(cap, "utf8"));
  f(g);
  writeFileSync(dir(name), JSON.stringify(g, null, 2));
  return dir(name);
}

describe("qcap grant and open --cap", () => {
  it("every new command has --help", () => {
    for (const c of ["keygen", "init", "pubkey", "grant", "attenuate", "revoke", "recipients"]) {
      const r = q([c, "--help"]);
      expect(r.code, c).toBe(0);
      expect(r.stdout).toMatch(/Usage: qcap/);
      expect(r.stdout).toMatch(/--json/);
    }
  });

  it("writes a 0600 grant and opens exactly its paths", () => {
    expect(statSync(cap).mode & 0o777).toBe(0o600);
    const r = ok(["open", capsule, "--cap", cap, "-i", alice, "-o", dir("out"), "--json"]);
    expect(JSON.parse(r.stdout)).toMatchObject({ files: ["public/data/t.csv", "public/readme.txt"] });
    expect(files(dir("out"))).toEqual(["public/data/t.csv", "public/readme.txt"]);
    expect(readFileSync(dir("out", "public", "readme.txt"), "utf8")).toBe("public readme\n");
    // cat of a path outside the grant is refused
    refused(
      ["cat", capsule, "private/secret.txt", "--cap", cap, "-i", alice],
      1,
      /no key for payload\/private/,
    );
    expect(q(["cat", capsule, "public/readme.txt", "--cap", cap, "-i", alice]).stdout).toBe(
      "public readme\n",
    );
  });

  it("inspect cap.json shows caveats, audience, expiry, paths and id, and no secret", () => {
    const text = readFileSync(cap, "utf8");
    const g = JSON.parse(text);
    const r = ok(["inspect", cap]);
    expect(r.stdout).toContain(g.issued.id);
    expect(r.stdout).toMatch(/expires\s+2030-01-31T00:00:00Z/);
    expect(r.stdout).toMatch(/paths\s+payload\/public\/\*\*/);
    expect(r.stdout).toContain(`aud = ${g.keys.kid}`);
    const j = JSON.parse(ok(["inspect", cap, "--json"]).stdout);
    expect(j).toMatchObject({
      id: g.issued.id,
      audience: g.keys.kid,
      allow: "read",
      paths: ["payload/public/**"],
    });
    for (const secret of [g.macaroon.s64, g.keys.ciphertext.slice(0, 32), g.keys.epk]) {
      expect(r.stdout).not.toContain(secret);
      expect(JSON.stringify(j)).not.toContain(secret);
    }
  });

  it("verify --cap checks the grant against the capsule", () => {
    const r = ok(["verify", capsule, "--cap", cap, "--json"]);
    expect(JSON.parse(r.stdout).grant).toMatchObject({ allow: "read", expires: "2030-01-31T00:00:00Z" });
    refused(["verify", capsule, "--cap", cap], 1, /expired at 2030-01-31T00:00:00Z/, {
      QCAP_NOW: "2030-02-01T00:00:00Z",
    });
  });

  const refusals: [string, () => string[], RegExp, (1 | 2)?, Record<string, string>?][] = [
    [
      "a grant used by another identity",
      () => ["open", capsule, "--cap", cap, "-i", bob, "-o", dir("x1")],
      /for the audience [0-9a-f]{16}, not for this identity/,
    ],
    [
      "an expired grant (clock passed explicitly)",
      () => ["open", capsule, "--cap", cap, "-i", alice, "-o", dir("x2")],
      /^qcap: the grant expired at 2030-01-31T00:00:00Z$/m,
      1,
      { QCAP_NOW: "2030-01-31T00:00:00Z" },
    ],
    [
      "a forged macaroon signature",
      () => [
        "open",
        capsule,
        "--cap",
        edit("forged.json", (g) => {
          const s = Buffer.from(g.macaroon.s64, "base64url");
          s[3] = (s[3] as number) ^ 0x10;
          g.macaroon.s64 = s.toString("base64url");
        }),
        "-i",
        alice,
        "-o",
        dir("x3"),
      ],
      /tampered with: the macaroon signature is forged/,
    ],
    [
      "a caveat removed",
      () => [
        "open",
        capsule,
        "--cap",
        edit("removed.json", (g) => g.macaroon.c.splice(3, 1)),
        "-i",
        alice,
        "-o",
        dir("x4"),
      ],
      /removed, changed or reordered/,
    ],
    [
      "caveats reordered",
      () => [
        "open",
        capsule,
        "--cap",
        edit("reordered.json", (g) => g.macaroon.c.reverse()),
        "-i",
        alice,
        "-o",
        dir("x5"),
      ],
      /removed, changed or reordered/,
    ],
    [
      "a widened path in both the token and the signed part",
      () => [
        "open",
        capsule,
        "--cap",
        edit("widened.json", (g) => {
          g.macaroon.c[4].i = "path payload/**";
          g.issued.caveats[4] = "path payload/**";
        }),
        "-i",
        alice,
        "-o",
        dir("x6"),
      ],
      /issuer's signature does not verify/,
    ],
    [
      "malformed JSON",
      () => {
        writeFileSync(dir("bad.json"), '{"type": "qcap-grant", ');
        return ["open", capsule, "--cap", dir("bad.json"), "-i", alice, "-o", dir("x7")];
      },
      /malformed grant: not valid JSON/,
      2,
    ],
    [
      "an unknown member",
      () => [
        "open",
        capsule,
        "--cap",
        edit("member.json", (g) => {
          g.extra = 1;
        }),
        "-i",
        alice,
        "-o",
        dir("x8"),
      ],
      /malformed grant: unknown member "extra"/,
      2,
    ],
  ];
  for (const [what, args, message, code, extra] of refusals) {
    it(`refuses ${what}`, () => {
      const a = args();
      refused(a, code ?? 1, message, extra);
      const out = a[a.indexOf("-o") + 1] as string;
      expect(files(out)).toEqual([]);
    });
  }

  it("refuses a grant for another capsule", () => {
    ok(["pack", dir("src"), "-o", dir("other.qcap"), "--sign-key", pub, "-r", pub]);
    refused(
      ["open", dir("other.qcap"), "--cap", cap, "-i", alice, "-o", dir("y1")],
      1,
      /for another capsule/,
    );
  });

  it("refuses an unknown caveat (fail closed), even one the audience appended itself", () => {
    const g = parseGrant(readFileSync(cap, "utf8"));
    const me = parseKeyFile(readFileSync(alice, "utf8")).identity;
    const now = parseRfc3339(NOW) as number;
    const c = checkGrant(g, { now, identity: me.secret });
    const m = appendCaveats(g.macaroon, [utf8("region = eu")]);
    const crafted = {
      ...g,
      macaroon: m,
      keys: sealGrantKeys(c.entries ?? [], me.publicKey, keysAad(g.issued, m)),
    };
    writeFileSync(dir("unknown.json"), serializeGrant(crafted));
    refused(
      ["open", capsule, "--cap", dir("unknown.json"), "-i", alice, "-o", dir("y2")],
      1,
      /unknown caveat "region = eu"/,
    );
  });
});

describe("qcap attenuate", () => {
  it("narrows paths and expiry for a new audience, offline", () => {
    const n = dir("narrow.json");
    ok([
      "attenuate",
      cap,
      "-i",
      alice,
      "--to",
      recipientOf(bob),
      "--paths",
      "public/*.txt",
      "--expires",
      "7d",
      "-o",
      n,
    ]);
    const r = ok(["open", capsule, "--cap", n, "-i", bob, "-o", dir("bob-out"), "--json"]);
    expect(JSON.parse(r.stdout).files).toEqual(["public/readme.txt"]);
    refused(["open", capsule, "--cap", n, "-i", alice, "-o", dir("z1")], 1, /not for this identity/);
    refused(["open", capsule, "--cap", n, "-i", bob, "-o", dir("z2")], 1, /expired at 2030-01-08T00:00:00Z/, {
      QCAP_NOW: "2030-01-08T00:00:00Z",
    });
    const i = JSON.parse(ok(["inspect", n, "--json"]).stdout);
    expect(i.caveats.slice(5)).toEqual([
      expect.stringMatching(/^aud = /),
      "expires < 2030-01-08T00:00:00Z",
      "path payload/public/*.txt",
    ]);
  });

  it("cannot widen", () => {
    refused(["attenuate", cap, "-i", alice, "--expires", "60d", "-o", dir("w1.json")], 2, /only narrows/);
    refused(
      ["attenuate", cap, "-i", alice, "--paths", "private/**", "-o", dir("w2.json")],
      2,
      /no granted entry matches/,
    );
    refused(
      ["attenuate", cap, "-i", bob, "--to", recipientOf(other), "-o", dir("w3.json")],
      1,
      /not for this identity/,
    );
  });
});

describe("qcap revoke and --revocations", () => {
  const list = dir("revoked.json");
  const id = () => JSON.parse(readFileSync(cap, "utf8")).issued.id as string;
  const openArgs = (l: string, out: string) => [
    "open",
    capsule,
    "--cap",
    cap,
    "-i",
    alice,
    "-o",
    dir(out),
    "--revocations",
    l,
  ];

  it("a list without the id lets the grant open; adding the id revokes it", () => {
    ok(["revoke", "--sign-key", pub, "--list", list]);
    expect(JSON.parse(readFileSync(list, "utf8"))).toMatchObject({
      sequence: 1,
      revoked: [],
      nextUpdate: "2030-01-08T00:00:00Z",
    });
    ok(openArgs(list, "r1"));
    ok(["revoke", "--id", id(), "--reason", "laptop lost", "--sign-key", pub, "--list", list]);
    const l = JSON.parse(readFileSync(list, "utf8"));
    expect(l).toMatchObject({ sequence: 2, revoked: [{ id: id(), reason: "laptop lost", time: NOW }] });
    refused(openArgs(list, "r2"), 1, new RegExp(`grant ${id()} is revoked \\(laptop lost`));
    refused(["verify", capsule, "--cap", cap, "--revocations", list], 1, /is revoked/);
    expect(files(dir("r2"))).toEqual([]);
  });

  it("refuses a rolled-back list (lower sequence than one seen)", () => {
    const l = JSON.parse(readFileSync(list, "utf8"));
    expect(l.sequence).toBe(2);
    // The sequence-1 list from before, signed and fresh, but older than the one already seen.
    ok(["revoke", "--sign-key", pub, "--list", dir("fresh1.json")], { QCAP_STATE_DIR: dir("state-other") });
    refused(openArgs(dir("fresh1.json"), "r3"), 1, /rolled back: sequence 1 is lower than 2/);
  });

  it("refuses an unsigned list, a list by another key, an edited list and a stale list", () => {
    const l = JSON.parse(readFileSync(list, "utf8"));
    const { signature: _, ...unsigned } = l;
    writeFileSync(dir("unsigned.json"), JSON.stringify(unsigned));
    refused(openArgs(dir("unsigned.json"), "r4"), 1, /not signed/);
    ok(["revoke", "--sign-key", other, "--list", dir("by-other.json")]);
    refused(openArgs(dir("by-other.json"), "r5"), 1, /signed by another key/);
    writeFileSync(dir("edited.json"), JSON.stringify({ ...l, revoked: [] }));
    refused(openArgs(dir("edited.json"), "r6"), 1, /signature does not verify/);
    // sequence 3, issued now, due in 7 days; accepted until the 24 h grace after that has passed
    const fresh = dir("fresh3.json");
    writeFileSync(fresh, readFileSync(list));
    ok(["revoke", "--sign-key", pub, "--list", fresh]);
    refused(openArgs(fresh, "r7"), 1, /is revoked/, { QCAP_NOW: "2030-01-08T23:59:59Z" });
    refused(openArgs(fresh, "r8"), 1, /stale: its next update was due at 2030-01-08T00:00:00Z/, {
      QCAP_NOW: "2030-01-09T00:00:01Z",
    });
    refused(openArgs(dir("garbage.json"), "r9"), 2, /cannot read/);
    refused(["open", capsule, "-i", pub, "-o", dir("r10"), "--revocations", list], 2, /applies to grants/);
  });

  it("fetches a list from a URL", async () => {
    const body = readFileSync(dir("fresh3.json"));
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/revoked.json`;
      const { spawn } = await import("node:child_process");
      const child = spawn(process.execPath, [cliPath, ...openArgs(url, "u1")], {
        env: { ...process.env, ...env },
      });
      let stderr = "";
      child.stderr.on("data", (c) => {
        stderr += c;
      });
      const code = await new Promise((r) => child.on("close", r));
      expect(code).toBe(1);
      expect(stderr).toMatch(/is revoked/);
    } finally {
      server.close();
    }
  });
});
