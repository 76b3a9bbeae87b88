/**
 * Trust on first sight is visible: open, cat and verify name the signer and say whether it is pinned
 * (--trust, or the trust store in the config folder); --require-trust and QCAP_REQUIRE_TRUST=1 refuse
 * an unpinned signer before anything is decrypted. seal says when it re-signs another key's capsule.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTrustStore } from "../src/cli/trust.js";
import { expectQcapError } from "./crypto-test-utils.js";
import { qcap, qcapBytes, tempDir } from "./helpers.js";

const tmp = tempDir("qcap-trust-");
const dir = (...p: string[]) => join(tmp.path, ...p);
const cfg = dir("cfg");
const env = { QCAP_CONFIG_DIR: cfg, QCAP_REQUIRE_TRUST: "" };
const q = (args: string[], extra: Record<string, string> = {}) => qcap(args, { env: { ...env, ...extra } });
const publisher = dir("publisher.key");
const reader = dir("reader.key");
const capsule = dir("data.qcap");
const plain = dir("plain.qcap");
const pubOf = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.ed25519 as string;
const recipientOf = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.recipient as string;
let pub = "";
const FP = /fingerprint [0-9a-f]{16}/;

beforeAll(() => {
  mkdirSync(dir("src"));
  mkdirSync(cfg);
  writeFileSync(dir("src", "a.txt"), "hello\n");
  for (const k of [publisher, reader]) expect(q(["keygen", "-o", k, "--unprotected"]).code).toBe(0);
  pub = pubOf(publisher);
  const r = q(["pack", dir("src"), "-o", capsule, "--sign-key", publisher, "-r", recipientOf(reader)]);
  expect(r.code, r.stderr).toBe(0);
  expect(q(["pack", dir("src"), "-o", plain, "--sign-key", publisher]).code).toBe(0);
});
afterAll(() => tmp.remove());

describe("the signer is named", () => {
  it("open of an unpinned signer warns on stderr and says so in --json", () => {
    const r = q(["open", capsule, "-i", reader, "-o", dir("o1"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^qcap: warning: signer ${pub} \\(${FP.source}\\) is not pinned`));
    expect(JSON.parse(r.stdout).signer).toEqual({
      publicKey: pub,
      fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      pinned: null,
    });
  });

  it("--trust pins it for open and cat", () => {
    const r = q(["open", capsule, "-i", reader, "-o", dir("o2"), "--trust", publisher, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^qcap: signer ${pub} \\(${FP.source}\\), pinned by --trust$`, "m"));
    expect(JSON.parse(r.stdout).signer.pinned).toBe("trust");
    const c = q(["cat", capsule, "a.txt", "-i", reader, "--trust", pub]);
    expect(c.stdout).toBe("hello\n");
    expect(c.stderr).toMatch(/pinned by --trust/);
  });

  it("the trust store pins it for open, cat and verify", () => {
    writeFileSync(join(cfg, "trusted"), `# publishers I trust\n\n${pub}  # the publisher\n`);
    try {
      const r = q(["open", capsule, "-i", reader, "-o", dir("o3"), "--json", "--require-trust"]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).signer.pinned).toBe("store");
      expect(r.stderr).toContain(`pinned in ${join(cfg, "trusted")}`);
      const v = q(["verify", capsule, "--require-trust", "--json"]);
      expect(JSON.parse(v.stdout)).toMatchObject({ issuerTrusted: true, signer: { pinned: "store" } });
      expect(q(["verify", capsule]).stdout).toMatch(
        /^issuer [0-9a-f]{64} \(fingerprint [0-9a-f]{16}, pinned in /m,
      );
      expect(q(["cat", plain, "a.txt"], { QCAP_REQUIRE_TRUST: "1" }).stdout).toBe("hello\n");
    } finally {
      writeFileSync(join(cfg, "trusted"), "");
    }
  });

  it("$XDG_CONFIG_HOME/qcap/trusted is used when QCAP_CONFIG_DIR is not set", () => {
    mkdirSync(dir("xdg", "qcap"), { recursive: true });
    writeFileSync(dir("xdg", "qcap", "trusted"), `${pub}\n`);
    const r = qcap(["cat", plain, "a.txt", "--require-trust"], {
      env: { QCAP_CONFIG_DIR: "", XDG_CONFIG_HOME: dir("xdg"), QCAP_REQUIRE_TRUST: "" },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`pinned in ${dir("xdg", "qcap", "trusted")}`);
  });
});

describe("unpinned signers are refused when trust is required", () => {
  it("open --require-trust: exit 1, one line, nothing written", () => {
    const r = q(["open", capsule, "-i", reader, "-o", dir("o4"), "--require-trust"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `qcap: the capsule is signed by ${pub} (${r.stderr.match(FP)?.[0]}), which is not pinned: pass --trust ${pub} or add it to ${join(cfg, "trusted")}\n`,
    );
    expect(existsSync(dir("o4")) ? readdirSync(dir("o4")) : []).toEqual([]);
  });

  it("QCAP_REQUIRE_TRUST=1 refuses cat and verify; a store of other keys does not help", () => {
    writeFileSync(join(cfg, "trusted"), `${pubOf(reader)}\n`);
    try {
      const c = qcapBytes(["cat", capsule, "a.txt", "-i", reader], {
        env: { ...env, QCAP_REQUIRE_TRUST: "1" },
      });
      expect(c.code).toBe(1);
      expect(c.stdout.length).toBe(0);
      expect(c.stderr).toMatch(/which is not pinned/);
      const v = q(["verify", capsule], { QCAP_REQUIRE_TRUST: "1" });
      expect(v.code).toBe(1);
      expect(v.stdout).toBe("");
    } finally {
      writeFileSync(join(cfg, "trusted"), "");
    }
  });

  it("a malformed trust store is an input error naming the line", () => {
    writeFileSync(join(cfg, "trusted"), `${pub}\nnot-a-key\n`);
    try {
      const r = q(["open", capsule, "-i", reader, "-o", dir("o5")]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `qcap: ${join(cfg, "trusted")} line 2: not an Ed25519 public key (64 hex digits)\n`,
      );
    } finally {
      writeFileSync(join(cfg, "trusted"), "");
    }
  });

  it("parseTrustStore refuses keys that are not curve points", () => {
    expect(parseTrustStore("# none\n", "t")).toEqual([]);
    expectQcapError(() => parseTrustStore(`${"00".repeat(32)}\n`, "t"), "input");
  });
});

describe("seal says when it re-signs another key's capsule", () => {
  it("warns and reports resigned in --json", () => {
    const r = q([
      "seal",
      plain,
      "-o",
      dir("s1.qcap"),
      "--sign-key",
      reader,
      "-r",
      recipientOf(reader),
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`^qcap: warning: the capsule was signed by ${pub} \\(${FP.source}\\), not by your key`),
    );
    expect(JSON.parse(r.stdout).resigned).toEqual({
      previousIssuer: pub,
      previousFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      issuer: pubOf(reader),
    });
  });

  it("is quiet when the key is the same", () => {
    const r = q([
      "seal",
      plain,
      "-o",
      dir("s2.qcap"),
      "--sign-key",
      publisher,
      "-r",
      recipientOf(reader),
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).resigned).toBeUndefined();
  });
});
