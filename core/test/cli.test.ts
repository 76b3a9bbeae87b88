/** The qcap command line end to end, run as a user runs it (the built CLI in a child process). */

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cliPath,
  hasCommand,
  plainEntry,
  pseudoRandom,
  qcap,
  qcapBytes,
  rootOf,
  run,
  signedCapsule,
  tempDir,
  text,
} from "./helpers.js";

const tmp = tempDir();
const dir = (...p: string[]) => join(tmp.path, ...p);
const key = dir("me.key");
const other = dir("other.key");
const big = pseudoRandom(3 * 65536 + 1000, 5);

beforeAll(() => {
  mkdirSync(dir("src", "sub"), { recursive: true });
  writeFileSync(dir("src", "hello.txt"), "hello\n");
  writeFileSync(dir("src", "sub", "big.bin"), big);
  writeFileSync(dir("src", "run.sh"), "#!/bin/sh\necho hi\n");
  chmodSync(dir("src", "run.sh"), 0o755);
  mkdirSync(dir("meta"));
  writeFileSync(dir("meta", "item.json"), '{"type":"Feature","stac_version":"1.0.0"}');
  expect(qcap(["keygen", "-o", key, "--unprotected"]).code).toBe(0);
  expect(qcap(["keygen", "-o", other, "--unprotected"]).code).toBe(0);
});
afterAll(() => tmp.remove());

const recipientOf = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.recipient as string;

function listFiles(root: string, prefix = ""): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listFiles(join(root, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`],
  );
}

describe("qcap CLI", () => {
  it("prints help for every command and exits 0", () => {
    for (const c of ["", "keygen", "pack", "seal", "verify", "inspect", "cat", "open"]) {
      const r = qcap(c ? [c, "--help"] : ["--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: qcap/);
    }
  });

  it("keygen writes a 0600 key file and refuses to overwrite it", () => {
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const r = qcap(["keygen", "-o", key]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^qcap: .*(exists|overwrite)/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("packs, verifies, inspects and opens a sealed capsule", () => {
    const out = dir("sealed.qcap");
    const p = qcap([
      "pack",
      dir("src"),
      "-o",
      out,
      "--sign-key",
      key,
      "--meta",
      dir("meta"),
      "-r",
      recipientOf(key),
      "--json",
    ]);
    expect(p.stderr).toBe("");
    expect(p.code).toBe(0);
    const packed = JSON.parse(p.stdout);
    expect(packed.sealed).toBe(true);

    const v = qcap(["verify", out, "--trust", key, "--json"]);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, root: packed.root, issuerTrusted: true });

    const i = JSON.parse(qcap(["inspect", out, "--json"]).stdout);
    expect(i.entries.map((e: { name: string }) => e.name)).toEqual([
      "meta/item.json",
      "payload/hello.txt",
      "payload/run.sh",
      "payload/sub/big.bin",
    ]);
    expect(i.recipients).toHaveLength(1);

    const o = qcap(["open", out, "-o", dir("opened"), "-i", key, "--meta-out", dir("opened-meta")]);
    expect(o.stderr).toMatch(
      /^qcap: warning: signer [0-9a-f]{64} \(fingerprint [0-9a-f]{16}\) is not pinned/,
    );
    expect(o.code).toBe(0);
    expect(readFileSync(dir("opened", "hello.txt"), "utf8")).toBe("hello\n");
    expect(readFileSync(dir("opened", "sub", "big.bin"))).toEqual(Buffer.from(big));
    expect(statSync(dir("opened", "run.sh")).mode & 0o777).toBe(0o755);
    expect(readFileSync(dir("opened-meta", "item.json"), "utf8")).toContain("stac_version");
    expect(listFiles(dir("opened"))).toEqual(["hello.txt", "run.sh", "sub/big.bin"]);
  });

  it("cat writes a verified byte range", () => {
    const out = dir("sealed.qcap");
    const r = qcapBytes(["cat", out, "sub/big.bin", "--offset", "65530", "--length", "100", "-i", key]);
    expect(r.code).toBe(0);
    expect(r.stdout).toEqual(Buffer.from(big.subarray(65530, 65630)));
    const whole = qcapBytes(["cat", out, "hello.txt", "-i", key]);
    expect(whole.stdout.toString()).toBe("hello\n");
  });

  it("opens only the paths asked for", () => {
    const r = qcap(["open", dir("sealed.qcap"), "-o", dir("partial"), "-i", key, "--path", "sub/**"]);
    expect(r.code).toBe(0);
    expect(listFiles(dir("partial"))).toEqual(["sub/big.bin"]);
  });

  it("refuses a wrong identity with exit 1 and writes nothing", () => {
    const r = qcap(["open", dir("sealed.qcap"), "-o", dir("wrong"), "-i", other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qcap: none of the given identities/);
    expect(listFiles(dir("wrong"))).toEqual([]);
  });

  it("detects tampering with exit 1 and leaves no partial output", () => {
    const bytes = readFileSync(dir("sealed.qcap"));
    bytes[200] = (bytes[200] as number) ^ 1; // inside the data of the first entry
    writeFileSync(dir("tampered.qcap"), bytes);
    expect(qcap(["verify", dir("tampered.qcap")]).code).toBe(1);
    const r = qcap(["open", dir("tampered.qcap"), "-o", dir("tampered-out"), "-i", key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not match/);
    expect(listFiles(dir("tampered-out"))).toEqual([]);
  });

  it("uses exit 2 and one line for usage and input errors", () => {
    for (const args of [
      ["pack"],
      ["verify", dir("missing.qcap")],
      ["pack", dir("src"), "-o", dir("x.qcap"), "--sign-key", dir("missing.key")],
      ["pack", dir("src"), "-o", dir("x.qcap"), "--sign-key", key, "-r", "age1notakey"],
      ["frobnicate"],
    ]) {
      const r = qcap(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")[0]).toMatch(/^qcap: /);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    }
    expect(existsSync(dir("x.qcap"))).toBe(false);
  });

  it("packs without sealing deterministically and seals in a second step", () => {
    const a = dir("plain-a.qcap");
    const b = dir("plain-b.qcap");
    expect(qcap(["pack", dir("src"), "-o", a, "--sign-key", key]).code).toBe(0);
    expect(qcap(["pack", dir("src"), "-o", b, "--sign-key", key]).code).toBe(0);
    expect(readFileSync(a)).toEqual(readFileSync(b));
    const s = qcap(["seal", a, "-o", dir("two-step.qcap"), "--sign-key", key, "-r", recipientOf(other)]);
    expect(s.code).toBe(0);
    expect(qcap(["open", dir("two-step.qcap"), "-o", dir("two-step"), "-i", other]).code).toBe(0);
    expect(readFileSync(dir("two-step", "sub", "big.bin"))).toEqual(Buffer.from(big));
  });

  it("seals to a passphrase from QCAP_PASSPHRASE", () => {
    const env = { QCAP_PASSPHRASE: "tr0ub4dor&3" };
    const out = dir("pass.qcap");
    expect(qcap(["pack", dir("src"), "-o", out, "--sign-key", key, "--passphrase"], { env }).code).toBe(0);
    expect(qcap(["open", out, "-o", dir("pass-out"), "--passphrase"], { env }).code).toBe(0);
    expect(readFileSync(dir("pass-out", "hello.txt"), "utf8")).toBe("hello\n");
    const wrong = qcap(["open", out, "-o", dir("pass-wrong"), "--passphrase"], {
      env: { QCAP_PASSPHRASE: "nope" },
    });
    expect(wrong.code).toBe(1);
    expect(
      qcap(["open", out, "-o", dir("pass-none"), "--passphrase"], { env: { QCAP_PASSPHRASE: "" } }).code,
    ).toBe(2);
  });

  it("refuses to pack symlinks", () => {
    mkdirSync(dir("linky"));
    symlinkSync("/etc/passwd", dir("linky", "pw"));
    const r = qcap(["pack", dir("linky"), "-o", dir("linky.qcap"), "--sign-key", key]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/symbolic links/);
  });

  it("never writes outside the output folder (zip slip in a signed manifest)", () => {
    const evil = text("owned");
    const name = "payload/../../escaped.txt";
    const e = plainEntry(name, evil);
    const m = { qcap: 1, chunkSize: 65536, entries: [e], root: rootOf([e]), seal: null };
    writeFileSync(dir("slip.qcap"), signedCapsule(m, [{ name, bytes: evil }]));
    mkdirSync(dir("slip", "out"), { recursive: true });
    const r = qcap(["open", dir("slip.qcap"), "-o", dir("slip", "out")]);
    expect(r.code).toBe(1);
    expect(listFiles(dir("slip"))).toEqual([]);
    expect(existsSync(dir("escaped.txt"))).toBe(false);
  });

  it("does not follow a symlink planted in the output folder", () => {
    const out = dir("planted");
    mkdirSync(out);
    mkdirSync(dir("elsewhere"));
    symlinkSync(dir("elsewhere"), join(out, "sub"));
    const r = qcap(["open", dir("plain-a.qcap"), "-o", out]);
    expect(r.code).not.toBe(0);
    expect(readdirSync(dir("elsewhere"))).toEqual([]);
  });

  it("reads a byte range over HTTP with range requests only", async () => {
    mkdirSync(dir("remote"));
    const large = pseudoRandom(4 * 1024 * 1024, 9);
    writeFileSync(dir("remote", "large.bin"), large);
    expect(
      qcap(["pack", dir("remote"), "-o", dir("remote.qcap"), "--sign-key", key, "-r", recipientOf(key)]).code,
    ).toBe(0);
    const file = readFileSync(dir("remote.qcap"));
    let served = 0;
    const server = createServer((req, res) => {
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
      if (!m || (m[1] === "" && m[2] === "")) {
        res.writeHead(200, { "content-length": file.length });
        served += file.length;
        res.end(file);
        return;
      }
      // "a-b", "a-" and the suffix form "-n".
      const a = m[1] === "" ? Math.max(0, file.length - Number(m[2])) : Number(m[1]);
      const b = m[1] === "" || m[2] === "" ? file.length - 1 : Math.min(Number(m[2]), file.length - 1);
      res.writeHead(206, { "content-range": `bytes ${a}-${b}/${file.length}`, "content-length": b - a + 1 });
      served += b - a + 1;
      res.end(file.subarray(a, b + 1));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sealed.qcap`;
      const { spawn } = await import("node:child_process");
      const args = ["cat", url, "large.bin", "--offset", "2000000", "--length", "100000", "-i", key];
      const child = spawn(process.execPath, [cliPath, ...args]);
      const chunks: Buffer[] = [];
      child.stdout.on("data", (c) => chunks.push(c));
      const code = await new Promise((r) => child.on("close", r));
      expect(code).toBe(0);
      expect(Buffer.concat(chunks)).toEqual(Buffer.from(large.subarray(2000000, 2100000)));
      // The 64 KiB tail read, up to three chunks and the index groups: far less than the file.
      expect(served).toBeLessThan(64 * 1024 + 4 * 65552 + 4096);
    } finally {
      server.close();
    }
  });

  it.runIf(hasCommand("age-keygen") || process.env.CI === "true")(
    "seals to a key made by age-keygen, which then opens it",
    () => {
      run("age-keygen", ["-o", dir("age.key")]);
      const recipient = run("age-keygen", ["-y", dir("age.key")]).trim();
      const out = dir("age.qcap");
      expect(qcap(["pack", dir("src"), "-o", out, "--sign-key", key, "-r", recipient]).code).toBe(0);
      const r = qcap(["open", out, "-o", dir("age-out"), "-i", dir("age.key")]);
      expect(r.stderr).toMatch(/^qcap: warning: signer [0-9a-f]{64} .* is not pinned[^\n]*\n$/);
      expect(readFileSync(dir("age-out", "hello.txt"), "utf8")).toBe("hello\n");
    },
  );
});

describe("progress on a terminal", () => {
  it.runIf(hasCommand("script"))("draws a progress line on a TTY and nothing when piped", () => {
    const out = dir("progress.qcap");
    expect(qcap(["pack", dir("src"), "-o", out, "--sign-key", key]).code).toBe(0);
    // script(1) gives the command a pseudo-terminal; the delay is lowered so a small job shows it.
    const cmd = `${process.execPath} ${cliPath} verify ${out}`;
    const tty = spawnSync("script", ["-qec", cmd, "/dev/null"], {
      encoding: "utf8",
      env: { ...process.env, QCAP_PROGRESS_DELAY_MS: "0" },
    });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toMatch(/verifying .*\[#+\] 100%/);
    const piped = qcap(["verify", out], { env: { QCAP_PROGRESS_DELAY_MS: "0" } });
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe("");
  });
});
