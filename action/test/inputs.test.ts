/** Bad inputs fail the step with one clear `::error::` line, no stack trace and no partial output. */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ActionResult, visibleLog, type Workspace, workspace, writeKey } from "./helpers.js";

let ws: Workspace;
let key: ReturnType<typeof writeKey>;
let reader: ReturnType<typeof writeKey>;

beforeAll(() => {
  ws = workspace();
  key = writeKey(ws.dir("publisher.key"));
  reader = writeKey(ws.dir("reader.key"));
});
afterAll(() => ws.remove());

function expectFailure(r: ActionResult, message: RegExp) {
  expect(r.code).toBe(1);
  expect(r.errors).toHaveLength(1);
  expect(r.errors[0]).toMatch(message);
  // No stack trace, no half-written capsule.
  expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/^\s+at /m);
  expect(readdirSync(ws.dir("ws")).filter((f) => f.endsWith(".qcap") || f.endsWith(".tmp"))).toEqual([]);
}

const base = () => ({ paths: "dist/**", "signing-key": key.seed, sigstore: "key", output: "bad.qcap" });

describe("bad inputs", () => {
  it("no files match the paths", async () => {
    const r = await ws.run({ ...base(), paths: "build/**\n*.zip" });
    expectFailure(
      r,
      /^no files match paths: build\/\*\*, \*\.zip \(hidden files are left out unless include-hidden-files: true\)$/,
    );
    expect(r.outputs["capsule-path"]).toBeUndefined();
  });

  it("paths empty", async () => {
    const r = await ws.run({ ...base(), paths: "\n  \n# nothing\n" });
    expectFailure(r, /^input paths is empty: list the build outputs to seal, one glob per line$/);
  });

  it("a signing key that is not a key, and one that cannot be read; neither is echoed", async () => {
    const secretish = "hunter2-not-a-key";
    let r = await ws.run({ ...base(), "signing-key": secretish });
    expectFailure(r, /^input signing-key is neither an Ed25519 key .* nor the path of a file$/);
    expect(visibleLog(r)).not.toContain(secretish);

    mkdirSync(ws.dir("a-folder"), { recursive: true });
    r = await ws.run({ ...base(), "signing-key": ws.dir("a-folder") });
    expectFailure(r, /^input signing-key names a file that cannot be read \(EISDIR\)$/);

    const identity = readFileSync(ws.dir("reader.key"), "utf8").match(/AGE-SECRET-KEY-1[0-9A-Z]+/)?.[0] ?? "";
    r = await ws.run({ ...base(), "signing-key": `${identity}\n` });
    expectFailure(r, /^input signing-key: this is an age identity, not an Ed25519 signing key$/);
    expect(visibleLog(r)).not.toContain(identity);

    r = await ws.run({ ...base(), "signing-key": `{"type": "qcap-key", "version": 1, "signing": {` });
    expectFailure(r, /^input signing-key: /);

    r = await ws.run({
      ...base(),
      "signing-key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    });
    expectFailure(r, /^input signing-key: /);
  });

  it("malformed recipients name the line", async () => {
    let r = await ws.run({ ...base(), recipients: `${reader.recipient}\nssh-ed25519 AAAAC3Nza me@host\n` });
    expectFailure(r, /^input recipients, line 2: not an age public key \(age1…\)$/);
    const broken = `${reader.recipient.slice(0, -3)}qqq`;
    r = await ws.run({ ...base(), recipients: `# team\n\n${broken}` });
    expectFailure(r, /^input recipients, line 3: /);
  });

  it("keyless without an OIDC token asks for `id-token: write`", async () => {
    const r = await ws.run({ paths: "dist/**", "signing-key": key.seed, output: "bad.qcap" });
    expectFailure(
      r,
      /^keyless attestation needs the workflow's OIDC token, .*add `permissions: id-token: write` to the job/,
    );
    // Also with no signing key at all (keyless would have made a one-time key).
    const noKey = await ws.run({ paths: "dist/**", output: "bad.qcap" });
    expectFailure(noKey, /add `permissions: id-token: write`/);
  });

  it("options that do not go together or are not known", async () => {
    expectFailure(
      await ws.run({ ...base(), sigstore: "cosign" }),
      /^input sigstore must be keyless or key, not cosign$/,
    );
    expectFailure(
      await ws.run({ ...base(), attest: "yes" }),
      /^input attest must be true or false, not yes$/,
    );
    expectFailure(
      await ws.run({ paths: "dist/**", attest: "false", output: "bad.qcap" }),
      /^input signing-key is required without keyless attestation/,
    );
    expectFailure(
      await ws.run({ paths: "dist/**", sigstore: "key", output: "bad.qcap" }),
      /^input signing-key is required with sigstore: key/,
    );
    expectFailure(await ws.run({ ...base(), name: "../escape" }), /^input name must be a file name/);
    expectFailure(
      await ws.run({ ...base(), "s3-bucket": "b", "s3-access-key-id": "AKIAEXAMPLE" }),
      /^inputs s3-access-key-id and s3-secret-access-key go together$/,
    );
    expectFailure(
      await ws.run({ ...base(), "tsa-url": "ftp://tsa" }),
      /^input tsa-url is not an http\(s\) URL/,
    );
    expectFailure(
      await ws.run({ ...base(), "fulcio-url": "https://fulcio.example" }),
      /^input fulcio-url needs tsa-url or rekor-url: a keyless bundle needs a trusted time/,
    );
    expectFailure(
      await ws.run({ ...base(), "sigstore-instance": "staging" }),
      /^input sigstore-instance must be auto, public-good or github, not staging$/,
    );
    expectFailure(
      await ws.run({ ...base(), "rekor-api-version": "3" }),
      /^input rekor-api-version must be 1 or 2, not 3$/,
    );
  });

  it("a symbolic link among the outputs, and missing metadata", async () => {
    mkdirSync(ws.dir("ws", "linked"), { recursive: true });
    symlinkSync("/etc/hostname", ws.dir("ws", "linked", "host"));
    expectFailure(
      await ws.run({ ...base(), paths: "linked/**" }),
      /^cannot seal .*linked\/host: it is a symbolic link, and links are not followed; to include what it points to, list the target's own path in paths \(or copy it into the build folder\), or exclude the link with !linked\/host$/,
    );
    expectFailure(await ws.run({ ...base(), meta: "no-such-stac" }), /^input meta: no such file or folder/);
    expect(existsSync(ws.dir("ws", "bad.qcap"))).toBe(false);
  });
});
