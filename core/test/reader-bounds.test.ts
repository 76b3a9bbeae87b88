/**
 * What an attacker's input can make the reader spend is bounded before it is spent: HTTP bodies and
 * files are cut off at their limit, FIFOs and devices are refused, recipient stanzas are capped and
 * tried interruptibly, `inspect` and `cat --offset` read only what they need, and file system errors
 * are one line with exit 2.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readdirSync, readlinkSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { x25519 } from "@noble/curves/ed25519.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { unlockMasterKey } from "../src/capsule/unlock.js";
import { kid } from "../src/crypto/recipients.js";
import { bytesSource } from "../src/io/source.js";
import { encodeIdentity } from "../src/keys/age.js";
import { AEAD } from "../src/v1/manifest.js";
import { cliPath, qcap, rootOf, signedCapsule, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;
const tmp = tempDir("qcap-bounds-");
afterAll(() => tmp.remove());
const at = (...p: string[]) => join(tmp.path, ...p);

interface Run {
  code: number | null;
  /** The first MiB of stdout; all of it is counted and hashed. */
  stdout: Buffer;
  stdoutBytes: number;
  stdoutSha256: string;
  stderr: string;
  /** Largest resident set of the qcap process, in KiB (from getrusage at exit). */
  maxRssKiB: number;
}

/** Preloaded into qcap: reports the peak RSS on exit, on fd 3. */
const RSS_HOOK = at("rss-hook.cjs");

/** Runs qcap without blocking this process (the test's HTTP servers must keep answering). */
function qcapAsync(args: string[], onSpawn?: (pid: number) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["-r", RSS_HOOK, cliPath, ...args], {
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let kept = 0;
    let total = 0;
    const hash = createHash("sha256");
    let stderr = "";
    let rss = "";
    child.stdout?.on("data", (d: Buffer) => {
      hash.update(d);
      total += d.length;
      if (kept < MiB) out.push(d);
      kept += d.length;
    });
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    (child.stdio[3] as NodeJS.ReadableStream).on("data", (d) => {
      rss += d;
    });
    if (child.pid !== undefined) onSpawn?.(child.pid);
    child.on("close", (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out),
        stdoutBytes: total,
        stdoutSha256: hash.digest("hex"),
        stderr,
        maxRssKiB: Number(rss) || 0,
      }),
    );
  });
}

/** A file of `size` bytes starting with `head`, sparse after it (instant to make, large to read). */
function sparseFile(path: string, size: number, head = "{"): void {
  const fd = openSync(path, "w");
  writeSync(fd, Buffer.from(head), 0, head.length, 0);
  writeSync(fd, Buffer.from(" "), 0, 1, size - 1);
  closeSync(fd);
}

const key = at("key.json");
const small = at("small.qcap");
const sealed = at("sealed.qcap");
const settle = () => new Promise((r) => setTimeout(r, 300));

beforeAll(() => {
  writeFileSync(
    RSS_HOOK,
    'process.on("exit", () => { try { require("fs").writeSync(3, String(process.resourceUsage().maxRSS)); } catch {} });\n',
  );
  expect(qcap(["keygen", "--unprotected", "-o", key]).code).toBe(0);
  mkdirSync(at("small"));
  writeFileSync(at("small", "a.txt"), "hello");
  expect(qcap(["pack", at("small"), "-o", small, "--sign-key", key]).code).toBe(0);
  expect(qcap(["pack", at("small"), "-o", sealed, "--sign-key", key, "-r", key]).code).toBe(0);
});

describe("HTTP bodies stop at the limit", () => {
  let server: Server;
  let sent = 0;
  let closedEarly = false;
  let url = "";
  const CAP = 256 * MiB;
  beforeAll(async () => {
    server = createServer((req, res) => {
      sent = 0;
      closedEarly = false;
      if (req.url === "/declared") {
        // Declares 1 GiB and trickles: refused from the header, before the body.
        res.writeHead(200, { "content-length": String(1024 * MiB) });
        res.write(Buffer.alloc(1024));
        sent += 1024;
        res.on("close", () => {
          closedEarly = true;
        });
        return;
      }
      // Chunked, no length: an endless list, cut at 256 MiB here so a reader without a limit ends.
      res.writeHead(200, { "content-type": "application/json" });
      const block = Buffer.alloc(MiB, 0x20);
      const pump = () => {
        while (sent < CAP) {
          sent += block.length;
          if (!res.write(block)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("close", () => {
        if (sent < CAP || !res.writableFinished) closedEarly = true;
      });
      pump();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("--revocations URL with an endless body: refused at 16 MiB, the transfer aborted", async () => {
    const r = await qcapAsync(["verify", small, "--revocations", `${url}/endless`]);
    await settle();
    expect(r.stderr).toBe(`qcap: the revocation list ${url}/endless is larger than 16 MiB\n`);
    expect(r.code).toBe(2);
    expect(closedEarly).toBe(true);
    // What the server managed to push before the client hung up: the limit plus socket buffers.
    expect(sent).toBeLessThan(64 * MiB);
    expect(r.maxRssKiB).toBeLessThan(400 * 1024);
  });

  it("--revocations URL with a Content-Length over the limit: refused before the body", async () => {
    const r = await qcapAsync(["verify", small, "--revocations", `${url}/declared`]);
    await settle();
    expect(r.stderr).toBe(`qcap: the revocation list ${url}/declared is larger than 16 MiB\n`);
    expect(r.code).toBe(2);
    expect(closedEarly).toBe(true);
  });
});

describe("files are refused by their size before they are read", () => {
  it.each([
    ["verify", ["verify", small, "--revocations", "F"], "revocation list F is larger than 16 MiB"],
    ["open --cap", ["open", sealed, "-o", at("cap-out"), "--cap", "F"], "grant F is larger than 48 MiB"],
    ["-i identity", ["cat", sealed, "a.txt", "-i", "F"], "identity F is larger than 1 MiB"],
    [
      "--sign-key",
      ["pack", at("small"), "-o", at("x.qcap"), "--sign-key", "F"],
      "signing key F is larger than 1 MiB",
    ],
    [
      "-r recipients",
      ["pack", at("small"), "-o", at("x.qcap"), "--sign-key", key, "-r", "F"],
      "recipient file F is larger than 1 MiB",
    ],
    ["--trust", ["verify", small, "--trust", "F"], "public key F is larger than 1 MiB"],
    ["inspect of a JSON file", ["inspect", "F"], "file F is larger than 48 MiB"],
  ])("%s: a 1 GiB file", async (_, args, message) => {
    const f = at(`big-${randomBytes(4).toString("hex")}.json`);
    sparseFile(f, 1024 * MiB);
    const r = await qcapAsync(args.map((a) => (a === "F" ? f : a)));
    expect(r.stderr).toBe(`qcap: ${message.replace("F", f)}\n`);
    expect(r.code).toBe(2);
    expect(r.maxRssKiB).toBeLessThan(300 * 1024);
  });
});

describe("non-regular files are refused, never waited on", () => {
  const fifo = at("fifo");
  beforeAll(() => {
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
  });
  it.each([
    [["verify", "F"], "cannot read F: not a regular file"],
    [["inspect", "F"], "cannot read F: not a regular file"],
    [["cat", "F", "a.txt"], "cannot read F: not a regular file"],
    [["open", "F", "-o", at("fifo-out")], "cannot read F: not a regular file"],
    [["verify", small, "--revocations", "F"], "cannot read revocation list F: not a regular file"],
    [["cat", sealed, "a.txt", "--cap", "F"], "cannot read grant F: not a regular file"],
    [["inspect", "/dev/zero"], "cannot read /dev/zero: not a regular file"],
  ])(
    "%j",
    (args, message) => {
      const r = spawnSync(process.execPath, [cliPath, ...args.map((a) => (a === "F" ? fifo : a))], {
        encoding: "utf8",
        timeout: 10_000,
        // A process blocked opening a FIFO does not end on SIGTERM (its exit waits for that open).
        killSignal: "SIGKILL",
      });
      expect(r.stderr).toBe(`qcap: ${message.replace("F", fifo)}\n`);
      expect(r.status).toBe(2);
    },
    30_000,
  );
});

describe("file system errors are one line with exit 2", () => {
  const long = "n".repeat(300);
  it.each([
    [["open", small, "-o", join(small, "x")], `cannot write ${join(small, "x")}: not a directory`],
    [["open", small, "-o", at(long)], `cannot write ${at(long)}: file name too long`],
    [["keygen", "-o", join(small, "k")], `cannot write ${join(small, "k")}: not a directory`],
    [["inspect", at(long)], `cannot read ${at(long)}: file name too long`],
    [["verify", join(small, "x")], `cannot read ${join(small, "x")}: not a directory`],
    [
      ["keygen", "--unprotected", "--force", "-o", at("small")],
      `cannot write ${at("small")}: is a directory`,
    ],
    [["open", small, "-o", small], `${small} is not a folder`],
  ])("%j", (args, message) => {
    const r = qcap(args);
    expect(r.stderr).toBe(`qcap: ${message}\n`);
    expect(r.code).toBe(2);
  });
});

describe("recipient stanzas", () => {
  const secret = x25519.utils.randomSecretKey();
  const victimKid = kid(x25519.getPublicKey(secret));
  const identity = at("victim.age");
  /** A signed, sealed (empty) capsule with `n` bogus stanzas all naming the victim's key id. */
  const manyStanzas = (n: number) =>
    signedCapsule(
      {
        qcap: 1,
        chunkSize: 65536,
        entries: [],
        root: rootOf([]),
        seal: {
          aead: AEAD,
          capsuleId: randomBytes(16).toString("hex"),
          commitment: randomBytes(32).toString("hex"),
          recipients: Array.from({ length: n }, () => ({
            type: "x25519",
            kid: victimKid,
            epk: Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString("hex"),
            wrappedKey: randomBytes(48).toString("hex"),
          })),
          names: null,
        },
      },
      [],
    );
  beforeAll(() => writeFileSync(identity, `${encodeIdentity(secret)}\n`));

  it("more than 256 stanzas are refused before any key derivation", async () => {
    writeFileSync(at("257.qcap"), manyStanzas(257));
    const r = qcap(["open", at("257.qcap"), "-o", at("257-out"), "-i", identity]);
    expect(r.stderr).toBe("qcap: manifest seal: more than 256 recipients (257)\n");
    expect(r.code).toBe(1);
    await expect(Capsule.open(bytesSource(manyStanzas(300)))).rejects.toThrow(/more than 256 recipients/);
  });

  it("trials of 256 stanzas give way to other events (a timer fires mid-way)", async () => {
    const capsule = await Capsule.open(bytesSource(manyStanzas(256)));
    let timerAt = 0;
    let doneAt = 0;
    let seq = 0;
    setTimeout(() => {
      timerAt = ++seq;
    }, 5);
    await expect(unlockMasterKey(capsule, { identities: [secret] })).rejects.toThrow(
      /none of the given identities/,
    );
    doneAt = ++seq;
    await new Promise((r) => setTimeout(r, 10));
    expect(timerAt).toBe(1);
    expect(doneAt).toBe(2);
  });

  it("SIGINT during the trials ends qcap with 130 promptly", async () => {
    writeFileSync(at("256.qcap"), manyStanzas(256));
    let signalledAt = 0;
    const r = await qcapAsync(["open", at("256.qcap"), "-o", at("256-out"), "-i", identity], (pid) => {
      // Once qcap holds the capsule open, it is parsing it or trying stanzas.
      const poll = setInterval(() => {
        let fds: string[] = [];
        try {
          fds = readdirSync(`/proc/${pid}/fd`);
        } catch {
          return clearInterval(poll);
        }
        const holds = fds.some((fd) => {
          try {
            return readlinkSync(`/proc/${pid}/fd/${fd}`) === at("256.qcap");
          } catch {
            return false;
          }
        });
        if (holds) {
          clearInterval(poll);
          signalledAt = Date.now();
          process.kill(pid, "SIGINT");
        }
      }, 1);
    });
    const after = Date.now() - signalledAt;
    expect(signalledAt).toBeGreaterThan(0);
    expect(r.stderr).toBe("qcap: interrupted (SIGINT)\n");
    expect(r.code).toBe(130);
    expect(after).toBeLessThan(5_000);
  });
});

describe("inspect and cat --offset read only what they need", () => {
  const big = at("big.qcap");
  const SIZE = 320 * MiB;
  beforeAll(() => {
    mkdirSync(at("big"));
    sparseFile(at("big", "big.bin"), SIZE, "start");
    expect(qcap(["pack", at("big"), "-o", big, "--sign-key", key]).code).toBe(0);
  }, 120_000);

  it("inspect of a 320 MiB capsule stays small", async () => {
    const r = await qcapAsync(["inspect", big]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain("big.bin");
    expect(r.maxRssKiB).toBeLessThan(200 * 1024);
  });

  it("cat --offset of a 300 MiB range streams it in bounded memory", async () => {
    const offset = 3;
    const length = 300 * MiB;
    const r = await qcapAsync([
      "cat",
      big,
      "big.bin",
      "--offset",
      String(offset),
      "--length",
      String(length),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdoutBytes).toBe(length);
    const expected = createHash("sha256");
    const zeros = Buffer.alloc(MiB);
    expected.update(Buffer.from("rt"));
    let left = length - 2;
    while (left > 0) {
      const n = Math.min(left, zeros.length);
      expected.update(zeros.subarray(0, n));
      left -= n;
    }
    expect(r.stdoutSha256).toBe(expected.digest("hex"));
    expect(r.maxRssKiB).toBeLessThan(200 * 1024);
  }, 120_000);
});
