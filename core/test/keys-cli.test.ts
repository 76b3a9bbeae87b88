/**
 * Keys through the CLI: passphrase-protected key files by default, `pubkey` (checked with openssl),
 * `init` and default keys, and `recipients` (re-wrap without re-encrypting, or --rotate).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { fileSource } from "../src/node/source.js";
import { hasCommand, qcap, run, tempDir } from "./helpers.js";

const tmp = tempDir("qcap-keys-cli-");
const dir = (...p: string[]) => join(tmp.path, ...p);
const base = {
  QCAP_CONFIG_DIR: dir("config"),
  QCAP_STATE_DIR: dir("state"),
  QCAP_PASSPHRASE: "",
  QCAP_KEY_PASSPHRASE: "",
};
const q = (args: string[], env: Record<string, string> = {}) => {
  const e: Record<string, string> = { ...base, ...env };
  // An empty value means "not set" here (the CLI refuses an empty passphrase).
  const full = { ...process.env, ...e };
  for (const k of ["QCAP_PASSPHRASE", "QCAP_KEY_PASSPHRASE"]) if (full[k] === "") delete full[k];
  return qcap(args, { env: full as Record<string, string> });
};
const PASS = { QCAP_KEY_PASSPHRASE: "correct horse" };

beforeAll(() => {
  writeFileSync(dir("hello.txt"), "hello\n");
  run("mkdir", ["-p", dir("src")]);
  writeFileSync(dir("src", "hello.txt"), "hello\n");
  writeFileSync(dir("src", "big.bin"), Buffer.alloc(200_000, 7));
});
afterAll(() => tmp.remove());

function files(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(root.length + 1))
    .sort();
}

describe("protected key files", () => {
  it("keygen protects by default; commands unlock with QCAP_KEY_PASSPHRASE", () => {
    const k = dir("protected.key");
    const r = q(["keygen", "-o", k, "--json"], PASS);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({
      protected: true,
      signingFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    const text = readFileSync(k, "utf8");
    expect(statSync(k).mode & 0o777).toBe(0o600);
    const json = JSON.parse(text);
    expect(Object.keys(json).sort()).toEqual(["protected", "public", "type", "version"]);
    expect(text).not.toContain("AGE-SECRET-KEY");
    expect(json.public.ed25519).toBe(info.signingPublicKey);

    const out = dir("p.qcap");
    expect(q(["pack", dir("src"), "-o", out, "--sign-key", k, "-r", k], PASS).code).toBe(0);
    // QCAP_PASSPHRASE works too when QCAP_KEY_PASSPHRASE is not set.
    const o = q(["open", out, "-i", k, "-o", dir("p-out")], { QCAP_PASSPHRASE: "correct horse" });
    expect(o.stderr).toMatch(/^qcap: warning: signer [0-9a-f]{64} .* is not pinned[^\n]*\n$/);
    expect(readFileSync(dir("p-out", "hello.txt"), "utf8")).toBe("hello\n");

    const wrong = q(["open", out, "-i", k, "-o", dir("p-wrong")], { QCAP_KEY_PASSPHRASE: "wrong" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^qcap: wrong passphrase for the key file/);
    const none = q(["open", out, "-i", k, "-o", dir("p-none")]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/passphrase is needed: set QCAP_KEY_PASSPHRASE or QCAP_PASSPHRASE/);
    // Public parts need no passphrase: as a recipient, a trusted key, and for pubkey.
    expect(q(["verify", out, "--trust", k]).code).toBe(0);
    expect(q(["pubkey", k, "--format", "age"]).stdout.trim()).toBe(info.recipient);
  });

  it("--unprotected writes the secrets in clear, mode 0600", () => {
    const k = dir("clear.key");
    expect(q(["keygen", "-o", k, "--unprotected"]).code).toBe(0);
    expect(statSync(k).mode & 0o777).toBe(0o600);
    expect(readFileSync(k, "utf8")).toContain("AGE-SECRET-KEY-1");
  });
});

describe("qcap pubkey", () => {
  it.runIf(hasCommand("openssl") || process.env.CI === "true")(
    "exports PEM that openssl uses to check a capsule's signature over manifest.json",
    async () => {
      const k = dir("signer.key");
      expect(q(["keygen", "-o", k, "--unprotected"]).code).toBe(0);
      const pem = q(["pubkey", k, "--format", "pem"]).stdout;
      expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
      writeFileSync(dir("signer.pem"), pem);
      expect(q(["pack", dir("src"), "-o", dir("s.qcap"), "--sign-key", k]).code).toBe(0);
      const c = await Capsule.open(await fileSource(dir("s.qcap")));
      writeFileSync(dir("manifest.json"), c.manifestBytes);
      writeFileSync(dir("manifest.ed25519"), c.signature);
      await c.source.close();
      const verify = (manifest: string) =>
        run("sh", [
          "-c",
          `openssl pkeyutl -verify -pubin -inkey ${dir("signer.pem")} -rawin -in ${manifest} -sigfile ${dir("manifest.ed25519")} 2>&1 || true`,
        ]);
      expect(verify(dir("manifest.json"))).toMatch(/Signature Verified Successfully/);
      writeFileSync(dir("manifest-edited.json"), Buffer.concat([c.manifestBytes, Buffer.from(" ")]));
      expect(verify(dir("manifest-edited.json"))).toMatch(/Signature Verification Failure/);
      expect(q(["pubkey", k, "--format", "hex"]).stdout.trim()).toBe(
        JSON.parse(readFileSync(k, "utf8")).public.ed25519,
      );
    },
  );

  it("takes every key form; refuses what a key does not hold", () => {
    const k = dir("forms.key");
    expect(q(["keygen", "-o", k, "--unprotected"]).code).toBe(0);
    const json = JSON.parse(readFileSync(k, "utf8"));
    writeFileSync(dir("seed.hex"), `${json.signing.ed25519}\n`);
    expect(q(["pubkey", dir("seed.hex"), "--format", "hex"]).stdout.trim()).toBe(json.public.ed25519);
    writeFileSync(dir("age.id"), `# comment\n${json.identity}\n`);
    expect(q(["pubkey", dir("age.id"), "--format", "age"]).stdout.trim()).toBe(json.public.recipient);
    const r = q(["pubkey", dir("age.id"), "--format", "pem"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds no Ed25519 key/);
    expect(q(["pubkey", json.public.recipient, "--json"]).stdout).toContain(json.public.recipient);
    expect(q(["pubkey", k, "--format", "ssh"]).code).toBe(2);
  });
});

describe("qcap init and default keys", () => {
  it("writes a protected default key that later commands use when no key is given", () => {
    const env = { ...PASS, QCAP_CONFIG_DIR: dir("cfg") };
    const r = q(["init", "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ protected: true, keyFile: dir("cfg", "key.json") });
    expect(statSync(dir("cfg", "key.json")).mode & 0o777).toBe(0o600);
    expect(q(["init"], env).code).toBe(2); // never over an existing key without --force

    const out = dir("d.qcap");
    expect(q(["pack", dir("src"), "-o", out, "-r", info.recipient], env).code).toBe(0);
    const v = JSON.parse(q(["verify", out, "--json"], env).stdout);
    expect(v.issuer).toBe(info.signingPublicKey);
    const o = q(["open", out, "-o", dir("d-out")], env);
    expect(o.stderr).toMatch(/^qcap: warning: signer [0-9a-f]{64} .* is not pinned[^\n]*\n$/);
    expect(files(dir("d-out"))).toEqual(["big.bin", "hello.txt"]);

    // Without a default key, the error says how to get one.
    const none = q(["pack", dir("src"), "-o", dir("n.qcap")]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/give --sign-key FILE, or run 'qcap init'/);
  });
});

describe("qcap recipients", () => {
  const owner = dir("owner.key");
  const reader = dir("reader.key");
  const third = dir("third.key");
  const src = dir("r.qcap");
  const recipientOf = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.recipient as string;

  beforeAll(() => {
    for (const k of [owner, reader, third]) expect(q(["keygen", "-o", k, "--unprotected"]).code).toBe(0);
    expect(q(["pack", dir("src"), "-o", src, "--sign-key", owner, "-r", owner, "-r", reader]).code).toBe(0);
  });

  /** The bytes before manifest.json: every entry and index entry with their records. */
  async function payloadPrefix(path: string): Promise<Buffer> {
    const c = await Capsule.open(await fileSource(path));
    let end = 0;
    for (const e of await c.allEntries()) {
      const last = e.index ?? e.placed;
      end = Math.max(end, last.dataOffset + last.size + 24);
    }
    await c.source.close();
    return readFileSync(path).subarray(0, end);
  }

  it("adds and removes recipients without touching the payload bytes; warns about removal", async () => {
    const added = dir("r-added.qcap");
    const a = q(["recipients", src, "--add", recipientOf(third), "-i", owner, "-o", added, "--json"]);
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout).recipients).toHaveLength(3);
    expect(q(["open", added, "-i", third, "-o", dir("t-out")]).code).toBe(0);
    expect(await payloadPrefix(added)).toEqual(await payloadPrefix(src));

    const removed = dir("r-removed.qcap");
    const r = q(["recipients", added, "--remove", reader, "-i", owner, "-o", removed]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: a removed recipient keeps what it already downloaded/);
    expect(await payloadPrefix(removed)).toEqual(await payloadPrefix(src));
    const denied = q(["open", removed, "-i", reader, "-o", dir("denied")]);
    expect(denied.code).toBe(1);
    expect(files(dir("denied"))).toEqual([]);
    expect(q(["verify", removed, "--trust", owner]).code).toBe(0);

    expect(q(["recipients", src, "--add", reader, "-i", owner, "-o", dir("x.qcap")]).code).toBe(2); // already one
    expect(q(["recipients", src, "--remove", third, "-i", owner, "-o", dir("x.qcap")]).code).toBe(2); // not one
    expect(q(["recipients", src, "-i", owner, "-o", dir("x.qcap")]).code).toBe(2); // nothing to do
    expect(q(["recipients", src, "--add", third, "-i", third, "-o", dir("x.qcap")]).code).toBe(1); // cannot open
    expect(existsSync(dir("x.qcap"))).toBe(false);
  });

  it("--rotate re-encrypts under a new master key for the named recipients only", async () => {
    const rotated = dir("r-rotated.qcap");
    const missing = q(["recipients", src, "--rotate", "--remove", reader, "-i", owner, "-o", rotated]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /name every recipient to keep with --add \(missing key ids: [0-9a-f]{16}\)/,
    );
    const r = q([
      "recipients",
      src,
      "--rotate",
      "--remove",
      reader,
      "--add",
      owner,
      "-i",
      owner,
      "-o",
      rotated,
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      rotated: true,
      recipients: [{ type: "x25519", kid: expect.any(String) }],
    });
    expect(q(["open", rotated, "-i", owner, "-o", dir("rot-out")]).code).toBe(0);
    expect(readFileSync(dir("rot-out", "big.bin"))).toEqual(Buffer.alloc(200_000, 7));
    expect(q(["open", rotated, "-i", reader, "-o", dir("rot-denied")]).code).toBe(1);
    expect((await payloadPrefix(rotated)).equals(await payloadPrefix(src))).toBe(false);
  });
});
