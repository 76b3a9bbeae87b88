/**
 * Untrusted strings reach the terminal escaped: caveats, revocation reasons and entry names with
 * terminal escape sequences, separators or bidi overrides are shown as `\x1b`, `\u2028`, `\u202e`;
 * `--json` keeps them exact.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bytesInput } from "../src/capsule/pack.js";
import { escapeText } from "../src/cli/escape.js";
import { packBytes, qcap, tempDir, text } from "./helpers.js";

const tmp = tempDir("qcap-escape-");
const dir = (...p: string[]) => join(tmp.path, ...p);
afterAll(() => tmp.remove());

// ESC sequences that would erase the previous line and move up, then a C1 CSI, bidi and separators.
const EVIL = "x\u001b[1A\u001b[2K\rOK\u009b31m\u202egnp.exe\u2028y\u200b";
const SHOWN = "x\\x1b[1A\\x1b[2K\\x0dOK\\x9b31m\\u202egnp.exe\\u2028y\\u200b";
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is looked for
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b\u2028\u2029\u202a-\u202e]/;

describe("escapeText", () => {
  it.each([
    ["plain text, é, 😀 and a\\b stay", "plain text, é, 😀 and a\\b stay"],
    [EVIL, SHOWN],
    ["tag \u{e0041} and private \u{f0000}", "tag \\u{e0041} and private \\u{f0000}"],
    ["lone \ud800 surrogate", "lone \\ud800 surrogate"],
  ])("%j", (input, shown) => {
    expect(escapeText(input)).toBe(shown);
  });
});

describe("the CLI escapes what it prints", () => {
  it("inspect of a revocation list with a hostile reason", () => {
    const list = {
      type: "qcap-revocations",
      version: 1,
      issuer: "ab".repeat(32),
      sequence: 1,
      issuedAt: "2030-01-01T00:00:00Z",
      nextUpdate: "2030-01-02T00:00:00Z",
      revoked: [{ id: "cd".repeat(16), reason: EVIL, time: "2030-01-01T00:00:00Z" }],
      signature: "00".repeat(64),
    };
    writeFileSync(dir("list.json"), JSON.stringify(list));
    const r = qcap(["inspect", dir("list.json")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain(SHOWN);
    const j = JSON.parse(qcap(["inspect", dir("list.json"), "--json"]).stdout);
    expect(j.revoked[0].reason).toBe(EVIL);
  });

  it("inspect of a grant with a hostile caveat", () => {
    const env = { QCAP_CONFIG_DIR: dir("cfg"), QCAP_STATE_DIR: dir("state") };
    mkdirSync(dir("src"));
    writeFileSync(dir("src", "f.txt"), "x");
    for (const k of ["a.key", "b.key"]) qcap(["keygen", "-o", dir(k), "--unprotected"], { env });
    const rcp = JSON.parse(readFileSync(dir("b.key"), "utf8")).public.recipient as string;
    const signer = dir("a.key");
    const packed = qcap(["pack", dir("src"), "-o", dir("d.qcap"), "--sign-key", signer, "-r", signer], {
      env,
    });
    expect(packed.code, packed.stderr).toBe(0);
    const g = qcap(["grant", dir("d.qcap"), "-i", signer, "--to", rcp, "-o", dir("cap.json")], { env });
    expect(g.code, g.stderr).toBe(0);
    const grant = JSON.parse(readFileSync(dir("cap.json"), "utf8"));
    grant.macaroon.c.push({ i: EVIL });
    writeFileSync(dir("evil.json"), JSON.stringify(grant));
    const r = qcap(["inspect", dir("evil.json")], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain(`  ${SHOWN}`);
    expect(r.stdout).toMatch(/\(not checked: run/);
    // the refusal of the edited grant is one escaped line too
    const v = qcap(["verify", dir("d.qcap"), "--cap", dir("evil.json")], { env });
    expect(v.code).toBe(1);
    expect(v.stderr).not.toMatch(RAW);
  });

  it("inspect of a capsule whose entry names carry bidi overrides, separators and C1 controls", async () => {
    const name = "payload/a\u202egnp.exe\u2028b\u009b2J";
    writeFileSync(dir("n.qcap"), await packBytes([bytesInput(name, text("x"))]));
    const r = qcap(["inspect", dir("n.qcap")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain("payload/a\\u202egnp.exe\\u2028b\\x9b2J");
    const j = JSON.parse(qcap(["inspect", dir("n.qcap"), "--json"]).stdout);
    expect(j.entries[0].name).toBe(name);
  });
});
