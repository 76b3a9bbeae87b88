/**
 * The `--json` documents of every command, success and failure, validated against their JSON
 * Schemas (core/schemas/, draft 2020-12) with ajv; and the rules that hold across them.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAPSULE_FORMATS } from "../src/cli/formats.js";
import { FORMAT_VERSION } from "../src/format/manifest.js";
import { cliPath, qcap, repoRoot, tempDir } from "./helpers.js";

const schemaDir = join(repoRoot, "core", "schemas");
const ajv = new Ajv2020({ allErrors: true, strict: true });
const schemas = new Map<string, { $id: string }>();
for (const f of readdirSync(schemaDir).filter((n) => n.endsWith(".json"))) {
  const s = JSON.parse(readFileSync(join(schemaDir, f), "utf8"));
  schemas.set(f.replace(/\.json$/, ""), s);
  ajv.addSchema(s);
}

const tmp = tempDir();
const dir = (...p: string[]) => join(tmp.path, ...p);
const pub = dir("publisher.key");
const alice = dir("alice.key");
const bob = dir("bob.key");
const env = { QCAP_CONFIG_DIR: dir("config"), QCAP_PASSPHRASE: "correct horse battery staple" };
const recipientOf = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.recipient as string;
const ed25519Of = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.ed25519 as string;

/** Every document printed in this file, for the rules that hold across commands. */
const seen: { command: string; doc: Record<string, unknown> }[] = [];

/** Runs qcap with --json; the document on stdout must validate against `schema` and name it. */
function json(schema: string, args: string[], expectCode = 0): Record<string, unknown> {
  const r = qcap([...args, "--json"], { env });
  expect(r.code, r.stderr).toBe(expectCode);
  const doc = JSON.parse(r.stdout) as Record<string, unknown>;
  const validate = ajv.getSchema(schemas.get(schema)?.$id ?? "missing");
  expect(validate, `no schema ${schema}`).toBeDefined();
  expect(validate?.(doc), JSON.stringify(validate?.errors, null, 2)).toBe(true);
  expect(doc.schema).toBe(schemas.get(schema)?.$id);
  seen.push({ command: schema, doc });
  return doc;
}

/** A failure with --json: one stderr line, the error document on stdout, both saying the same. */
function failure(args: string[], code: 1 | 2, kind: string, message: RegExp): void {
  const r = qcap([...args, "--json"], { env });
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  const doc = json_(r.stdout);
  const validate = ajv.getSchema("urn:qcap:cli:error:1");
  expect(validate?.(doc), JSON.stringify(validate?.errors)).toBe(true);
  const error = doc.error as { code: number; kind: string; message: string };
  expect(error).toMatchObject({ code, kind });
  expect(error.message).toMatch(message);
  expect(r.stderr).toContain(`qcap: ${error.message}`);
  seen.push({ command: "error", doc });
}
const json_ = (s: string) => JSON.parse(s) as Record<string, unknown>;

beforeAll(() => {
  mkdirSync(dir("src", "public"), { recursive: true });
  writeFileSync(dir("src", "public", "readme.txt"), "public readme\n");
  writeFileSync(dir("src", "secret.txt"), "the secret\n");
  mkdirSync(dir("meta"));
  writeFileSync(dir("meta", "item.json"), '{"type":"Feature"}');
  for (const k of [alice, bob]) expect(qcap(["keygen", "-o", k, "--unprotected"]).code).toBe(0);
});
afterAll(() => tmp.remove());

describe("the schema files", () => {
  it("are draft 2020-12, one per command that prints JSON, each $id matching its file", () => {
    for (const [name, s] of schemas) {
      expect(ajv.getSchema(s.$id), name).toBeDefined(); // compiled, in strict mode
      expect((s as { $schema?: string }).$schema).toBe("https://json-schema.org/draft/2020-12/schema");
      expect(s.$id).toBe(`urn:qcap:cli:${name}:1`);
    }
    // Every command with a --json option has a schema (read from its own help).
    const help = qcap(["--help"]).stdout.split("Commands:")[1] ?? "";
    const names = help.split("\n").flatMap((l) => /^ {2}([a-z][a-z-]*)\b/.exec(l)?.[1] ?? []);
    const withJson = names.filter((n) => n !== "help" && qcap(["help", n]).stdout.includes("--json"));
    expect(withJson.length).toBeGreaterThanOrEqual(12);
    for (const n of withJson) expect(schemas.has(n), `schema for ${n}`).toBe(true);
  });

  it("reject a document that breaks them (the validator is not a pass-through)", () => {
    const v = ajv.getSchema("urn:qcap:cli:pack:1");
    const good = {
      schema: "urn:qcap:cli:pack:1",
      ok: true,
      capsule: "a.qcap",
      root: "0".repeat(64),
      issuer: "1".repeat(64),
      sealed: false,
      recipients: [],
      entryCount: 1,
      bytes: 10,
    };
    expect(v?.(good)).toBe(true);
    expect(v?.({ ...good, size: 10 })).toBe(false);
    expect(v?.({ ...good, bytes: "10" })).toBe(false);
    expect(v?.({ ...good, schema: "urn:qcap:cli:pack:2" })).toBe(false);
    expect(v?.({ ...good, recipients: ["0123456789abcdef"] })).toBe(false);
  });
});

describe("every command's --json document validates", () => {
  const capsule = dir("sealed.qcap");
  const plain = dir("plain.qcap");
  const grant = dir("cap.json");
  const list = dir("revoked.json");

  it("keygen, init, pubkey", () => {
    const k = json("keygen", ["keygen", "-o", pub, "--unprotected"]);
    expect(k).toMatchObject({ ok: true, keyFile: pub, protected: false, recipient: recipientOf(pub) });
    const i = json("init", ["init", "--unprotected"]);
    expect(i.configDir).toBe(dir("config"));
    const p = json("pubkey", ["pubkey", pub]);
    expect(p).toMatchObject({
      signingPublicKey: ed25519Of(pub),
      recipients: [{ type: "x25519", recipient: recipientOf(pub) }],
    });
    json("pubkey", ["pubkey", recipientOf(pub)]);
  });

  it("pack (sealed to a key and a passphrase, and unsealed) and seal", () => {
    const s = json("pack", [
      "pack",
      dir("src"),
      "-o",
      capsule,
      "--sign-key",
      pub,
      "-r",
      recipientOf(pub),
      "--passphrase",
      "--meta",
      dir("meta"),
    ]);
    expect(s).toMatchObject({ sealed: true, entryCount: 3 });
    expect(s.recipients).toEqual([
      { type: "x25519", kid: expect.stringMatching(/^[0-9a-f]{16}$/) },
      { type: "argon2id" },
    ]);
    const u = json("pack", ["pack", dir("src"), "-o", plain, "--sign-key", alice, "--unsealed"]);
    expect(u).toMatchObject({ sealed: false, recipients: [] });
    const r = json("seal", [
      "seal",
      plain,
      "-o",
      dir("resealed.qcap"),
      "--sign-key",
      pub,
      "-r",
      recipientOf(bob),
    ]);
    expect(r.resigned).toMatchObject({ previousIssuer: ed25519Of(alice), issuer: ed25519Of(pub) });
  });

  it("grant, attenuate, revoke", () => {
    const g = json("grant", [
      "grant",
      capsule,
      "-i",
      pub,
      "--to",
      recipientOf(alice),
      "--paths",
      "public/**",
      "-o",
      grant,
    ]);
    expect(g).toMatchObject({ grantFile: grant, grantedEntryCount: 1, allow: "read" });
    const a = json("attenuate", [
      "attenuate",
      grant,
      "-i",
      alice,
      "--to",
      recipientOf(bob),
      "--expires",
      "7d",
      "-o",
      dir("narrow.json"),
    ]);
    expect(a).toMatchObject({ grantFile: dir("narrow.json"), id: g.id });
    const first = json("revoke", ["revoke", "--sign-key", pub, "--list", list]);
    expect(first).toMatchObject({ listFile: list, sequence: 1, addedCount: 0, revokedCount: 0 });
    const second = json("revoke", ["revoke", "--id", "0".repeat(32), "--sign-key", pub, "--list", list]);
    expect(second).toMatchObject({ sequence: 2, addedCount: 1, revokedCount: 1 });
  });

  it("verify, with a grant and a revocation list", () => {
    const v = json("verify", ["verify", plain]);
    expect(v).toMatchObject({ ok: true, sealed: false, entryCount: 2, signer: { pinned: null } });
    const w = json("verify", [
      "verify",
      capsule,
      "--trust",
      pub,
      "--cap",
      grant,
      "-i",
      alice,
      "--revocations",
      list,
    ]);
    expect(w).toMatchObject({
      issuerTrusted: true,
      revocations: { revokedCount: 1 },
      grant: { verified: true, entryCount: 1 },
    });
  });

  it("inspect of a capsule, a grant and a revocation list", () => {
    const c = json("inspect", ["inspect", capsule]);
    expect(c).toMatchObject({ kind: "capsule", format: FORMAT_VERSION, entryCount: 3 });
    const entries = c.entries as { name: string; bytes: number }[];
    expect(entries.find((e) => e.name === "meta/item.json")?.bytes).toBe(18);
    expect(json("inspect", ["inspect", grant])).toMatchObject({ kind: "grant", grantedEntryCount: 1 });
    const l = json("inspect", ["inspect", list]);
    expect(l).toMatchObject({ kind: "revocations", signatureStatus: "valid", sequence: 2 });
  });

  it("open, with --meta-out and with a grant", () => {
    const o = json("open", ["open", capsule, "-i", pub, "-o", dir("out"), "--meta-out", dir("out-meta")]);
    expect(o).toMatchObject({ files: ["public/readme.txt", "secret.txt"], metaFiles: ["item.json"] });
    const g = json("open", ["open", capsule, "--cap", grant, "-i", alice, "-o", dir("out-grant")]);
    expect(g).toMatchObject({
      files: ["public/readme.txt"],
      grantId: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
  });

  it("recipients", () => {
    const r = json("recipients", [
      "recipients",
      capsule,
      "--add",
      recipientOf(bob),
      "-i",
      pub,
      "--passphrase",
      "-o",
      dir("more.qcap"),
    ]);
    expect(r).toMatchObject({ rotated: false });
    expect(r.recipients).toHaveLength(3);
  });

  it("--version", () => {
    const v = json("version", ["--version"]);
    expect(v.formats).toEqual({ reads: [...CAPSULE_FORMATS.reads], writes: CAPSULE_FORMATS.writes });
  });
});

describe("a failure with --json prints the error document on stdout", () => {
  it("for usage errors (exit 2), caught by the parser or by a command", () => {
    failure(["verify", dir("plain.qcap"), "--bogus"], 2, "usage", /unknown option '--bogus'/);
    failure(["pack", dir("src")], 2, "usage", /required option '-o, --output <file>'/);
    failure(["keygen", "-o", dir("k"), "--key", "x"], 2, "usage", /did you mean --sign-key/);
    failure(["completion", "tcsh", "--json"], 2, "usage", /unknown option|unknown shell/);
    failure(["frobnicate"], 2, "usage", /unknown command 'frobnicate'/);
    failure(["help", "frobnicate"], 2, "usage", /unknown command 'frobnicate'/);
    failure(["--version", "--bogus"], 2, "usage", /unknown option '--bogus'/);
  });

  it("for bad input (exit 2) of each kind of command", () => {
    const missing = dir("missing.qcap");
    for (const args of [
      ["verify", missing],
      ["inspect", missing],
      ["open", missing, "-o", dir("x")],
      ["seal", missing, "-o", dir("y"), "-r", recipientOf(bob)],
      ["grant", missing, "--to", recipientOf(bob), "-o", dir("g.json")],
      ["attenuate", dir("missing.json"), "-o", dir("n.json"), "-i", bob],
      ["pubkey", dir("missing.key")],
      ["recipients", missing, "--add", recipientOf(bob), "-o", dir("z")],
    ])
      failure(args, 2, "input", /missing/);
    failure(["pack", dir("src"), "-o", dir("plain.qcap"), "--sign-key", pub], 2, "input", /--force/);
    failure(["keygen", "-o", pub], 2, "input", /--force/);
    failure(["init"], 2, "input", /--force/);
    failure(["revoke", "--sign-key", pub, "--list", dir("src", "public", "readme.txt")], 2, "input", /./);
  });

  it("for failed checks (exit 1)", () => {
    const bytes = readFileSync(dir("plain.qcap"));
    bytes[40] = (bytes[40] as number) ^ 1;
    writeFileSync(dir("bad.qcap"), bytes);
    failure(["verify", dir("bad.qcap")], 1, "integrity", /./);
    failure(["verify", dir("plain.qcap"), "--trust", pub], 1, "unauthorized", /not signed by|trusted|pinned/);
    failure(["open", dir("sealed.qcap"), "-i", bob, "-o", dir("nope")], 1, "decrypt", /./);
  });

  it("when interrupted (exit 143)", async () => {
    mkdirSync(dir("big"));
    const fd = openSync(dir("big", "big.bin"), "w");
    writeSync(fd, Buffer.from("end"), 0, 3, 1024 ** 3 - 3); // sparse: quick to make, a GiB to seal
    closeSync(fd);
    mkdirSync(dir("big-out"));
    const args = [
      "pack",
      dir("big"),
      "-o",
      dir("big-out", "x.qcap"),
      "--sign-key",
      pub,
      "--unsealed",
      "--json",
    ];
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    const poll = setInterval(() => {
      if (readdirSync(dir("big-out")).some((f) => f.endsWith(".tmp"))) {
        clearInterval(poll);
        child.kill("SIGTERM");
      }
    }, 2);
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    clearInterval(poll);
    expect(code).toBe(143);
    const doc = json_(stdout);
    expect(ajv.getSchema("urn:qcap:cli:error:1")?.(doc)).toBe(true);
    expect(doc.error).toMatchObject({ code: 143, kind: "interrupted" });
    expect(readdirSync(dir("big-out"))).toEqual([]);
  });

  it("and nothing on stdout without --json", () => {
    const r = qcap(["verify", dir("missing.qcap")], { env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
  });
});

describe("one name for one thing across commands", () => {
  /** Every member name with the values it took, at any depth. */
  function members(): Map<string, unknown[]> {
    const out = new Map<string, unknown[]>();
    const walk = (x: unknown) => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (x !== null && typeof x === "object")
        for (const [k, v] of Object.entries(x)) {
          out.set(k, [...(out.get(k) ?? []), v]);
          walk(v);
        }
    };
    for (const s of seen) walk(s.doc);
    return out;
  }

  it("sizes are `bytes`, counts `…Count`, `entries` a list, `recipients` a list of {type, kid?}", () => {
    expect(seen.length).toBeGreaterThan(30);
    const m = members();
    expect(m.has("size")).toBe(false);
    for (const v of m.get("bytes") ?? []) expect(Number.isInteger(v)).toBe(true);
    for (const [k, vs] of m)
      if (k.endsWith("Count"))
        for (const v of vs) expect(v === null || Number.isInteger(v), `${k}: ${String(v)}`).toBe(true);
    for (const v of m.get("entries") ?? []) expect(Array.isArray(v)).toBe(true);
    for (const v of m.get("recipients") ?? []) {
      expect(Array.isArray(v)).toBe(true);
      for (const r of v as { type: string }[]) expect(["x25519", "argon2id"]).toContain(r.type);
    }
    // `capsule` is always where the capsule is (a path or URL), never a digest.
    for (const v of m.get("capsule") ?? []) expect(v).toMatch(/\.qcap$/);
  });

  it("every document starts with its schema and ok", () => {
    for (const s of seen) expect(Object.keys(s.doc).slice(0, 2)).toEqual(["schema", "ok"]);
  });
});

describe("qcap --version", () => {
  it("names the engines in use and the capsule formats", () => {
    const r = qcap(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^qcap \d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/^engine: (native|portable) /m);
    expect(r.stdout).toMatch(/^worker threads: /m);
    expect(r.stdout).toMatch(/^capsule format: reads 1(, \d+)*, writes \d+$/m);
  });

  it("follows QCAP_NATIVE=0 and QCAP_THREADS", () => {
    const portable = qcap(["--version", "--json"], { env: { QCAP_NATIVE: "0", QCAP_THREADS: "0" } });
    expect(JSON.parse(portable.stdout)).toMatchObject({
      engine: "portable",
      nativeThreads: null,
      workerThreads: 0,
    });
    expect(JSON.parse(portable.stdout).implementations.stream).not.toBe("native");
    expect(qcap(["--version"], { env: { QCAP_NATIVE: "0" } }).stdout).toMatch(/^engine: portable/m);
    const two = JSON.parse(qcap(["-V", "--json"], { env: { QCAP_THREADS: "2" } }).stdout);
    expect(two.workerThreads).toBe(2);
  });

  it("states the format versions the library reads and writes", () => {
    expect(CAPSULE_FORMATS.writes).toBe(FORMAT_VERSION);
    expect(CAPSULE_FORMATS.reads).toContain(FORMAT_VERSION);
  });
});
