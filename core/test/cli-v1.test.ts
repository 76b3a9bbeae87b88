/**
 * Version 1 capsules through the CLI: read (verify, inspect, cat, open) by the version 1 adaptor, and
 * written again as version 2 by `seal` and `recipients`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Capsule } from "../src/capsule/capsule.js";
import { encodeIdentity } from "../src/keys/age.js";
import { fileSource } from "../src/node/source.js";
import { qcap, tempDir } from "./helpers.js";

const tmp = tempDir("qcap-cli-v1-");
const dir = (...p: string[]) => join(tmp.path, ...p);
const env = { QCAP_CONFIG_DIR: dir("config"), QCAP_STATE_DIR: dir("state") };
const q = (args: string[]) => qcap(args, { env });
const doc = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "test-vectors", "capsules-v1.json"), "utf8"),
);
const [, unsealedV1, sealedV1] = doc.vectors as { expected: { hex: string; root: string } }[];

async function versionOf(path: string): Promise<number> {
  const src = await fileSource(path);
  try {
    return (await Capsule.open(src)).version;
  } finally {
    await src.close();
  }
}

beforeAll(() => {
  writeFileSync(dir("unsealed-v1.qcap"), Buffer.from(unsealedV1?.expected.hex ?? "", "hex"));
  writeFileSync(dir("sealed-v1.qcap"), Buffer.from(sealedV1?.expected.hex ?? "", "hex"));
  writeFileSync(dir("id.txt"), `${encodeIdentity(Buffer.from(doc.identity, "hex"))}\n`);
  expect(q(["keygen", "-o", dir("k.json"), "--unprotected"]).code).toBe(0);
});
afterAll(() => tmp.remove());

describe("version 1 capsules", () => {
  it("verify, inspect, cat and open read them", () => {
    const v = q(["verify", dir("sealed-v1.qcap"), "--json"]);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).root).toBe(sealedV1?.expected.root);
    expect(JSON.parse(q(["inspect", dir("sealed-v1.qcap"), "--json"]).stdout).format).toBe(1);
    const c = q(["cat", dir("sealed-v1.qcap"), "hello.txt", "-i", dir("id.txt")]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toBe("hello\n");
    const o = q(["open", dir("sealed-v1.qcap"), "-i", dir("id.txt"), "-o", dir("opened")]);
    expect(o.code, o.stderr).toBe(0);
    expect(readFileSync(dir("opened", "hello.txt"), "utf8")).toBe("hello\n");
  });

  it("seal and recipients write version 2", async () => {
    const recipient = JSON.parse(readFileSync(dir("k.json"), "utf8")).public.recipient as string;
    const s = q([
      "seal",
      dir("unsealed-v1.qcap"),
      "-r",
      recipient,
      "--sign-key",
      dir("k.json"),
      "-o",
      dir("s2.qcap"),
    ]);
    expect(s.code, s.stderr).toBe(0);
    expect(await versionOf(dir("s2.qcap"))).toBe(2);
    expect(q(["cat", dir("s2.qcap"), "hello.txt", "-i", dir("k.json")]).stdout).toBe("hello\n");

    const r = q([
      "recipients",
      dir("sealed-v1.qcap"),
      "--add",
      recipient,
      "-i",
      dir("id.txt"),
      "--sign-key",
      dir("k.json"),
      "-o",
      dir("r2.qcap"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(await versionOf(dir("r2.qcap"))).toBe(2);
    // The old recipient and the new one both open it: the master key is the same.
    for (const id of [dir("id.txt"), dir("k.json")])
      expect(q(["cat", dir("r2.qcap"), "hello.txt", "-i", id]).stdout).toBe("hello\n");
    expect(q(["verify", dir("r2.qcap")]).code).toBe(0);
  });
});
