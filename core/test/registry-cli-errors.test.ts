/** `publish`, `fetch` and `ls` refuse bad arguments and settings in one line, before any network call. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliPath } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "qcap-reg-args-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// No AWS settings from the machine: an empty home, no profile files, no region.
const env: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: dir,
  QCAP_CONFIG_DIR: join(dir, "cfg"),
  AWS_CONFIG_FILE: join(dir, "none"),
  AWS_SHARED_CREDENTIALS_FILE: join(dir, "none"),
  AWS_EC2_METADATA_DISABLED: "true",
  AWS_ACCESS_KEY_ID: "k",
  AWS_SECRET_ACCESS_KEY: "s",
};
const qcap = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [cliPath, ...args], { encoding: "utf8", env: { ...env, ...extra } });

describe("registry command arguments", () => {
  it("exit 2 with one line for each mistake", () => {
    writeFileSync(join(dir, "exists.qcap"), "x");
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [["ls", "s3://bucket/p"], {}, /^qcap: no AWS region: set AWS_REGION, a profile region or --region$/],
      [["ls", "s3://bucket/p", "--endpoint", "ftp://x"], {}, /^qcap: invalid S3 endpoint "ftp:\/\/x"/],
      [["ls", "s3://Bad_Bucket/p"], {}, /^qcap: invalid bucket name "Bad_Bucket"/],
      [
        ["ls", "bucket/p"],
        {},
        /^qcap: invalid registry "bucket\/p": give s3:\/\/BUCKET\/PREFIX or an https:\/\/ URL$/,
      ],
      [["publish", "x.qcap", "s3://bucket/p", "--retries", "0"], {}, /--retries must be a whole number/],
      [["publish", "x.qcap", "s3://bucket/p", "--public-url", "x"], {}, /invalid --public-url "x"/],
      [
        ["fetch", "s3://bucket/p", "n", "-o", join(dir, "exists.qcap")],
        {},
        /refusing to overwrite .*exists\.qcap/,
      ],
      [
        ["fetch", "s3://bucket/p", "n@v1", "-o", join(dir, "new.qcap")],
        { AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: "http://127.0.0.1:1" },
        /cannot reach the S3 endpoint/,
      ],
    ];
    for (const [args, extra, message] of cases) {
      const r = qcap(args, extra);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});
