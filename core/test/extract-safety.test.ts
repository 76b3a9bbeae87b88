/**
 * `open` writes nothing outside its output folder even while another user swaps folders for links,
 * writes nothing at all unless everything verified and decrypted (SPEC §7.4), and creates files and
 * folders with modes the umask allows.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { bytesInput } from "../src/capsule/pack.js";
import { extract } from "../src/node/extract.js";
import { fileSource } from "../src/node/source.js";
import { cliPath, packBytes, qcap, tempDir, text } from "./helpers.js";

const tmp = tempDir("qcap-extract-safety-");
afterAll(() => tmp.remove());
const at = (...p: string[]) => join(tmp.path, ...p);

/** Everything under `dir`, as sorted relative paths. */
function listAll(dir: string, prefix = ""): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) =>
      d.isDirectory() && !d.isSymbolicLink()
        ? [`${prefix}${d.name}/`, ...listAll(join(dir, d.name), `${prefix}${d.name}/`)]
        : [`${prefix}${d.name}`],
    )
    .sort();
}

/**
 * Another local user's loop: swaps `<out>/sub` for a symbolic link to `victim` and back, as fast
 * as it can, until killed. Resolves once the loop runs.
 */
function attacker(out: string, victim: string): Promise<ChildProcess> {
  const code = `
    const fs = require("fs");
    const [out, victim] = process.argv.slice(1);
    const sub = out + "/sub", real = out + "/sub.real";
    process.stdout.write("go\\n");
    // Each state is held for a random while, so that some checks see the folder and the write
    // that follows meets the link.
    const hold = () => { const end = process.hrtime.bigint() + BigInt(Math.floor(Math.random() * 200_000)); while (process.hrtime.bigint() < end); };
    for (;;) {
      try { fs.renameSync(sub, real); } catch {}
      try { fs.symlinkSync(victim, sub); } catch {}
      hold();
      try { fs.unlinkSync(sub); } catch {}
      try { fs.renameSync(real, sub); } catch {}
      hold();
    }`;
  const child = spawn(process.execPath, ["-e", code, out, victim], { stdio: ["ignore", "pipe", "ignore"] });
  return new Promise((resolve) => child.stdout.once("data", () => resolve(child)));
}

describe("open under a racing local user", () => {
  it("never lands a file outside the output folder while a subfolder is swapped for a link", async () => {
    const files = Array.from({ length: 150 }, (_, i) => bytesInput(`payload/sub/f${i}.txt`, text(`${i}`)));
    const path = at("race.qcap");
    writeFileSync(path, await packBytes(files));
    const capsule = await Capsule.open(await fileSource(path));
    const items = files.map((f, i) => ({ entry: f.name, path: `sub/f${i}.txt`, mode: 0o644 }));
    const victim = at("victim");
    mkdirSync(victim);
    let extracted = 0;
    try {
      for (let round = 0; round < 25; round++) {
        const out = at(`race-out-${round}`);
        mkdirSync(join(out, "sub"), { recursive: true });
        const child = await attacker(out, victim);
        try {
          await extract(capsule, items, out, { force: true });
          extracted++;
        } catch {
          // Refusing (a link or a missing folder met on the way) is fine; writing through it is not.
        } finally {
          child.kill("SIGKILL");
          await new Promise((r) => child.once("exit", r));
        }
        expect(listAll(victim)).toEqual([]);
      }
    } finally {
      await capsule.source.close();
    }
    // Runs that met the link refused it; the others extracted. Undisturbed, extraction works.
    expect(extracted).toBeLessThanOrEqual(25);
    const calm = at("calm-out");
    mkdirSync(join(calm, "sub"), { recursive: true });
    const c2 = await Capsule.open(await fileSource(path));
    await extract(c2, items, calm);
    await c2.source.close();
    expect(readdirSync(join(calm, "sub")).length).toBe(150);
  }, 240_000);
});

describe("all-or-nothing open", () => {
  beforeAll(async () => {
    // Two payload files, the second under a folder, and one meta/ file.
    writeFileSync(
      at("two.qcap"),
      await packBytes([
        bytesInput("payload/a.txt", text("A from the capsule")),
        bytesInput("payload/z/b.txt", text("B from the capsule")),
        bytesInput("meta/m.json", text('{"meta":true}')),
      ]),
    );
  });

  it("a planted link stops the run before any file appears", () => {
    const out = at("planted");
    mkdirSync(out);
    mkdirSync(at("planted-victim"));
    symlinkSync(at("planted-victim"), join(out, "z"));
    const r = qcap(["open", at("two.qcap"), "-o", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`qcap: refusing to write through the symbolic link ${join(out, "z")}\n`);
    expect(listAll(out)).toEqual(["z"]);
    expect(listAll(at("planted-victim"))).toEqual([]);
  });

  it("a name over 255 bytes fails with exit 2 and leaves no output folder", async () => {
    const long = `${"n".repeat(300)}.txt`;
    writeFileSync(
      at("long.qcap"),
      await packBytes([
        bytesInput("payload/a.txt", text("first")),
        bytesInput(`payload/${long}`, text("second")),
      ]),
    );
    const out = at("long-out");
    const r = qcap(["open", at("long.qcap"), "-o", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`qcap: cannot write ${join(out, long)}: file name too long\n`);
    expect(existsSync(out)).toBe(false);
    expect(listAll(tmp.path).filter((f) => f.includes(".qcap-open-"))).toEqual([]);
    // Into an existing folder: nothing appears either.
    mkdirSync(out);
    expect(qcap(["open", at("long.qcap"), "-o", out]).code).toBe(2);
    expect(listAll(out)).toEqual([]);
  });

  it("a corrupted meta/ entry with --meta-out writes nothing, and --force replaces nothing", async () => {
    const c = await Capsule.open(await fileSource(at("two.qcap")));
    const offset = (await c.entry("meta/m.json")).placed.dataOffset;
    await c.source.close();
    const bytes = readFileSync(at("two.qcap"));
    bytes[offset + 3] ^= 1;
    writeFileSync(at("bad-meta.qcap"), bytes);
    const out = at("meta-out");
    const meta = at("meta-meta");
    const r = qcap(["open", at("bad-meta.qcap"), "-o", out, "--meta-out", meta]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qcap: meta\/m\.json: .*\n$/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(meta)).toBe(false);
    // The user's own files survive a failed --force run untouched.
    mkdirSync(out);
    writeFileSync(join(out, "a.txt"), "mine");
    const f = qcap(["open", at("bad-meta.qcap"), "-o", out, "--meta-out", meta, "--force"]);
    expect(f.code).toBe(1);
    expect(readFileSync(join(out, "a.txt"), "utf8")).toBe("mine");
    expect(listAll(out)).toEqual(["a.txt"]);
    expect(existsSync(meta)).toBe(false);
    // Without the corruption, --force replaces the file at the end, and without it nothing is touched.
    const keep = qcap(["open", at("two.qcap"), "-o", out, "--meta-out", meta]);
    expect(keep.code).toBe(2);
    expect(keep.stderr).toBe(`qcap: ${join(out, "a.txt")} already exists (use --force to replace it)\n`);
    expect(readFileSync(join(out, "a.txt"), "utf8")).toBe("mine");
    expect(existsSync(meta)).toBe(false);
    expect(qcap(["open", at("two.qcap"), "-o", out, "--meta-out", meta, "--force"]).code).toBe(0);
    expect(readFileSync(join(out, "a.txt"), "utf8")).toBe("A from the capsule");
    expect(listAll(out)).toEqual(["a.txt", "z/", "z/b.txt"]);
    expect(listAll(meta)).toEqual(["m.json"]);
  });
});

describe("file modes", () => {
  it("honour the umask: under umask 077 nothing is readable by others", async () => {
    writeFileSync(
      at("modes.qcap"),
      await packBytes([
        bytesInput("payload/plain.txt", text("secret")),
        bytesInput("payload/bin/run.sh", text("#!/bin/sh\n"), 0o755),
      ]),
    );
    const out = at("modes-out", "deeper");
    const r = spawnSync(
      "sh",
      ["-c", 'umask 077; exec "$0" "$1" open "$2" -o "$3"', process.execPath, cliPath, at("modes.qcap"), out],
      { encoding: "utf8" },
    );
    expect(r.stderr).toMatch(/^qcap: warning: signer [0-9a-f]{64} .* is not pinned[^\n]*\n$/);
    expect(r.status).toBe(0);
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(join(out, "plain.txt"))).toBe(0o600);
    expect(mode(join(out, "bin", "run.sh"))).toBe(0o700);
    expect(mode(join(out, "bin"))).toBe(0o700);
    expect(mode(out)).toBe(0o700);
    expect(mode(at("modes-out"))).toBe(0o700);
    // Under 022 the usual modes come back.
    const out2 = at("modes-022");
    const r2 = spawnSync(
      "sh",
      [
        "-c",
        'umask 022; exec "$0" "$1" open "$2" -o "$3"',
        process.execPath,
        cliPath,
        at("modes.qcap"),
        out2,
      ],
      { encoding: "utf8" },
    );
    expect(r2.status).toBe(0);
    expect(mode(join(out2, "plain.txt"))).toBe(0o644);
    expect(mode(join(out2, "bin", "run.sh"))).toBe(0o755);
  });

  it("the staging folder is private (0700) while decrypted data is in it, whatever the umask", async () => {
    const path = at("staging.qcap");
    writeFileSync(path, await packBytes([bytesInput("payload/s.txt", text("staged"))]));
    const capsule = await Capsule.open(await fileSource(path));
    const seen: { where: string; mode: number }[] = [];
    const look = (dir: string) => {
      for (const name of readdirSync(dir).filter((n) => n.startsWith(".qcap-open-")))
        seen.push({ where: dir, mode: statSync(join(dir, name)).mode & 0o777 });
    };
    // Into an existing folder (staged inside it) and into a new one (staged in its parent).
    mkdirSync(at("staging-existing"));
    const item = [{ entry: "payload/s.txt", path: "s.txt", mode: 0o644 }];
    await extract(capsule, item, at("staging-existing"), { onProgress: () => look(at("staging-existing")) });
    await extract(capsule, item, at("staging-new"), { onProgress: () => look(tmp.path) });
    await capsule.source.close();
    expect(seen).toEqual([
      { where: at("staging-existing"), mode: 0o700 },
      { where: tmp.path, mode: 0o700 },
    ]);
    expect(readdirSync(at("staging-existing"))).toEqual(["s.txt"]);
    expect(readdirSync(at("staging-new"))).toEqual(["s.txt"]);
  });

  it("refuses item paths that leave the output folder, writing nothing, into a new or an existing folder", async () => {
    const path = at("escape.qcap");
    const inputs = [bytesInput("payload/a.txt", text("first")), bytesInput("payload/b.txt", text("second"))];
    writeFileSync(path, await packBytes(inputs));
    const capsule = await Capsule.open(await fileSource(path));
    mkdirSync(at("escape-existing"));
    try {
      for (const bad of ["../escaped.txt", "x/../../escaped.txt", "./b.txt", "x//b.txt"]) {
        // A good item first: the bad one is refused even after others were staged.
        const items = [
          { entry: "payload/a.txt", path: "a.txt", mode: 0o644 },
          { entry: "payload/b.txt", path: bad, mode: 0o644 },
        ];
        for (const out of [at("escape-new", "out"), at("escape-existing")]) {
          await expect(extract(capsule, items, out)).rejects.toMatchObject({
            kind: "format",
            message: `refusing to write outside the output folder: ${bad}`,
          });
        }
      }
    } finally {
      await capsule.source.close();
    }
    expect(existsSync(at("escaped.txt"))).toBe(false);
    expect(existsSync(at("escape-new"))).toBe(false);
    expect(readdirSync(at("escape-existing"))).toEqual([]);
    expect(readdirSync(tmp.path).filter((n) => n.startsWith(".qcap-open-"))).toEqual([]);
  });

  it("text outputs too: a revocation list written under umask 077 is 0600", () => {
    const key = at("revoke-key.json");
    expect(qcap(["keygen", "--unprotected", "-o", key]).code).toBe(0);
    const list = at("revoked.json");
    const r = spawnSync(
      "sh",
      [
        "-c",
        'umask 077; exec "$0" "$1" revoke --list "$2" --sign-key "$3"',
        process.execPath,
        cliPath,
        list,
        key,
      ],
      { encoding: "utf8" },
    );
    expect(r.status).toBe(0);
    expect(statSync(list).mode & 0o777).toBe(0o600);
  });
});
