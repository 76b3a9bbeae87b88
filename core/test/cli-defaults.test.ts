/** Safer defaults and hints of the qcap command line, run as a user runs it (the built CLI). */

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliPath, hasCommand, qcap, qcapBytes, tempDir } from "./helpers.js";

const tmp = tempDir();
const dir = (...p: string[]) => join(tmp.path, ...p);
const key = dir("me.key");
const binary = new Uint8Array([0x00, 0x1b, 0x5b, 0x32, 0x4a, 0xff, 0xfe, 0x07]);

beforeAll(() => {
  mkdirSync(dir("src"), { recursive: true });
  writeFileSync(dir("src", "hello.txt"), "hello\n");
  writeFileSync(dir("src", "blob.bin"), binary);
  mkdirSync(dir("meta"));
  writeFileSync(dir("meta", "item.json"), '{"type":"Feature"}');
  writeFileSync(dir("single.json"), '{"one":1}');
  expect(qcap(["keygen", "-o", key, "--unprotected"]).code).toBe(0);
});
afterAll(() => tmp.remove());

const recipientOf = (k: string) => JSON.parse(readFileSync(k, "utf8")).public.recipient as string;
const oneLine = (s: string) => expect(s.trim().split("\n")).toHaveLength(1);
/** Command names from `qcap --help` (lines indented by two spaces; wrapped text is indented more). */
const commands = () =>
  (qcap(["--help"]).stdout.split("Commands:")[1] ?? "")
    .split("\n")
    .flatMap((l) => /^ {2}([a-z][a-z-]*)\b/.exec(l)?.[1] ?? [])
    .filter((n) => n !== "help");
const pack = (out: string, ...extra: string[]) =>
  qcap(["pack", dir("src"), "-o", out, "--sign-key", key, ...extra]);

describe("outputs are replaced only with --force", () => {
  it("pack refuses an existing file, names it and --force, and leaves it as it was", () => {
    const out = dir("notes.txt");
    writeFileSync(out, "my notes");
    const r = pack(out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(out);
    expect(r.stderr).toContain("--force");
    oneLine(r.stderr);
    expect(readFileSync(out, "utf8")).toBe("my notes");
    const f = pack(out, "--force");
    expect(f.code).toBe(0);
    expect(qcap(["verify", out]).code).toBe(0);
  });

  it("seal and recipients refuse an existing output", () => {
    const plain = dir("plain.qcap");
    expect(pack(plain).code).toBe(0);
    const sealed = dir("sealed.qcap");
    writeFileSync(sealed, "keep");
    const s = qcap(["seal", plain, "-o", sealed, "-r", recipientOf(key), "--sign-key", key]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/refusing to overwrite .*sealed\.qcap .*--force/);
    expect(readFileSync(sealed, "utf8")).toBe("keep");
    expect(
      qcap(["seal", plain, "-o", sealed, "-r", recipientOf(key), "--sign-key", key, "--force"]).code,
    ).toBe(0);

    const other = dir("other.key");
    expect(qcap(["keygen", "-o", other, "--unprotected"]).code).toBe(0);
    const target = dir("rewrapped.qcap");
    writeFileSync(target, "keep");
    const args = ["recipients", sealed, "--add", recipientOf(other), "-i", key, "-o", target];
    const r = qcap(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to overwrite .*rewrapped\.qcap .*--force/);
    expect(readFileSync(target, "utf8")).toBe("keep");
    expect(qcap([...args, "--force"]).code).toBe(0);
    expect(qcap(["verify", target]).code).toBe(0);
  });

  it("revoke updates its list in place but refuses to replace another file given as -o", () => {
    const list = dir("revoked.json");
    const id = "0123456789abcdef0123456789abcdef";
    expect(qcap(["revoke", "--list", list, "--id", id, "--sign-key", key]).code).toBe(0);
    expect(qcap(["revoke", "--list", list, "--sign-key", key]).code).toBe(0);
    const other = dir("published.json");
    writeFileSync(other, "keep");
    const r = qcap(["revoke", "--list", list, "--sign-key", key, "-o", other]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to overwrite .*published\.json .*--force/);
    expect(readFileSync(other, "utf8")).toBe("keep");
    expect(qcap(["revoke", "--list", list, "--sign-key", key, "-o", other, "--force"]).code).toBe(0);
    expect(JSON.parse(readFileSync(other, "utf8")).revoked).toHaveLength(1);
  });
});

describe("unsealed packs", () => {
  it("warns that anyone can read the payload unless --unsealed is given", () => {
    const w = pack(dir("warned.qcap"));
    expect(w.code).toBe(0);
    expect(w.stderr).toMatch(/^qcap: warning: .*not sealed: anyone .* can read the payload/);
    const q = pack(dir("quiet.qcap"), "--unsealed", "--json");
    expect(q.code).toBe(0);
    expect(q.stderr).toBe("");
    expect(JSON.parse(q.stdout).sealed).toBe(false);
    const s = pack(dir("sealed-nowarn.qcap"), "-r", recipientOf(key));
    expect(s.stderr).toBe("");
  });
});

describe("meta/ is public", () => {
  const sealed = dir("meta-sealed.qcap");
  const noKey = { QCAP_HOME: dir("no-home") };
  beforeAll(() => {
    expect(pack(sealed, "-r", recipientOf(key), "--meta", dir("meta")).code).toBe(0);
  });

  it("cat reads meta/ of a sealed capsule without any key", () => {
    const r = qcap(["cat", sealed, "meta/item.json"], { env: noKey });
    expect(r.stderr).not.toMatch(/identity|passphrase|error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('{"type":"Feature"}');
    // The payload still needs a key.
    expect(qcap(["cat", sealed, "hello.txt"], { env: noKey }).code).toBe(2);
  });

  it("open --meta-out writes meta/ of a sealed capsule without any key", () => {
    const r = qcap(["open", sealed, "--meta-out", dir("meta-out")], { env: noKey });
    expect(r.stderr).not.toMatch(/identity|passphrase|error/);
    expect(r.code).toBe(0);
    expect(readFileSync(dir("meta-out", "item.json"), "utf8")).toBe('{"type":"Feature"}');
  });

  it("--meta accepts a single file", () => {
    const out = dir("meta-file.qcap");
    expect(pack(out, "--meta", dir("single.json")).code).toBe(0);
    expect(qcap(["cat", out, "meta/single.json"]).stdout).toBe('{"one":1}');
  });
});

describe("cat and terminals", () => {
  const capsule = dir("cat.qcap");
  beforeAll(() => {
    expect(pack(capsule).code).toBe(0);
  });
  const onTty = (args: string[]) =>
    spawnSync("script", ["-qec", [process.execPath, cliPath, ...args].join(" "), "/dev/null"], {
      encoding: "utf8",
    });

  it.runIf(hasCommand("script"))("refuses binary on a terminal, writes text, and -o - forces it", () => {
    const b = onTty(["cat", capsule, "blob.bin"]);
    expect(b.status).toBe(2);
    expect(b.stdout).toMatch(/refusing to write binary data to a terminal/);
    expect(b.stdout).not.toContain("\u001b[2J");
    const t = onTty(["cat", capsule, "hello.txt"]);
    expect(t.status).toBe(0);
    expect(t.stdout).toContain("hello");
    const forced = onTty(["cat", capsule, "blob.bin", "-o", "-"]);
    expect(forced.status).toBe(0);
  });

  it("writes binary to a pipe and to a file with -o (refusing an existing one without --force)", () => {
    expect(Buffer.compare(qcapBytes(["cat", capsule, "blob.bin"]).stdout, Buffer.from(binary))).toBe(0);
    const out = dir("blob-out.bin");
    expect(qcap(["cat", capsule, "blob.bin", "-o", out]).code).toBe(0);
    expect(Buffer.compare(readFileSync(out), Buffer.from(binary))).toBe(0);
    const again = qcap(["cat", capsule, "blob.bin", "-o", out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("--force");
    expect(qcap(["cat", capsule, "hello.txt", "-o", out, "--force"]).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("hello\n");
  });
});

describe("hints", () => {
  it("takes --out as --output and answers --key with the options meant", () => {
    const out = dir("out-alias.qcap");
    expect(qcap(["pack", dir("src"), "--out", out, "--sign-key", key, "--unsealed"]).code).toBe(0);
    expect(existsSync(out)).toBe(true);
    const k = qcap(["pack", dir("src"), "-o", dir("k.qcap"), "--key", key]);
    expect(k.code).toBe(2);
    expect(k.stderr.trim()).toBe("qcap: unknown option '--key' (did you mean --sign-key or --identity?)");
  });

  it("says a capsule is sealed with a passphrase", () => {
    const out = dir("pass.qcap");
    const env = { QCAP_PASSPHRASE: "correct horse battery" };
    expect(qcap(["pack", dir("src"), "-o", out, "--sign-key", key, "--passphrase"], { env }).code).toBe(0);
    const r = qcap(["open", out, "-o", dir("pass-out")], { env });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("qcap: this capsule is sealed with a passphrase: give --passphrase");
    const ok = qcap(["open", out, "-o", dir("pass-out"), "--passphrase"], { env });
    expect(ok.code).toBe(0);
  });

  it("names a capsule given as --cap", () => {
    const out = dir("cap.qcap");
    expect(pack(out, "-r", recipientOf(key)).code).toBe(0);
    const r = qcap(["open", out, "-o", dir("cap-out"), "--cap", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/this is a capsule, --cap wants a grant file/);
    oneLine(r.stderr);
  });

  it("answers qcap help COMMAND for every command", () => {
    const names = commands();
    expect(names.length).toBeGreaterThan(10);
    for (const n of names) {
      const r = qcap(["help", n]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: qcap ${n}`);
    }
  });

  it("writes counts in the right number", () => {
    mkdirSync(dir("one"));
    writeFileSync(dir("one", "a.txt"), "a");
    const out = dir("one.qcap");
    const p = qcap(["pack", dir("one"), "-o", out, "--sign-key", key]);
    expect(p.stdout).toMatch(/1 entry, \d+ bytes/);
    expect(qcap(["verify", out]).stdout).toMatch(/signature and 1 entry verified/);
    expect(qcap(["open", out, "-o", dir("one-out")]).stdout).toMatch(/opened 1 file into/);
    expect(pack(dir("two.qcap")).stdout).toMatch(/2 entries/);
  });
});

describe("shell completion", () => {
  it("bash: the script installs a completion for qcap that lists every command", () => {
    const script = qcap(["completion", "bash"]);
    expect(script.code).toBe(0);
    const qcapFn = `qcap() { ${process.execPath} ${cliPath} "$@"; }`;
    const r = spawnSync(
      "bash",
      [
        "-c",
        `${qcapFn}; source <(qcap completion bash) && complete -p qcap && COMP_WORDS=(qcap ""); COMP_CWORD=1; _qcap && echo "\${COMPREPLY[*]}"`,
      ],
      { encoding: "utf8" },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/complete .*-F _qcap qcap/);
    for (const c of commands()) expect(r.stdout.split("\n")[1]?.split(" ")).toContain(c);
    const opts = spawnSync(
      "bash",
      [
        "-c",
        `${qcapFn}; source <(qcap completion bash); COMP_WORDS=(qcap pack --u); COMP_CWORD=2; _qcap; echo "\${COMPREPLY[*]}"`,
      ],
      { encoding: "utf8" },
    );
    expect(opts.stdout.trim()).toBe("--unsealed");
  });

  it("zsh and fish scripts list every command; an unknown shell is a usage error", () => {
    for (const shell of ["zsh", "fish"]) {
      const s = qcap(["completion", shell]);
      expect(s.code).toBe(0);
      for (const c of commands()) expect(s.stdout).toMatch(new RegExp(`\\b${c}\\b`));
    }
    const bad = qcap(["completion", "tcsh"]);
    expect(bad.code).toBe(2);
    oneLine(bad.stderr);
  });
});
