/**
 * The AWS SDK is an optional dependency: without it every other command works, and the registry
 * commands say in one line what to install. (A resolve hook makes @aws-sdk/* unresolvable.)
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliPath } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "qcap-nosdk-"));
const hook = join(dir, "no-aws-sdk.mjs");
writeFileSync(
  hook,
  `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (specifier.startsWith("@aws-sdk/")) {
    const e = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    e.code = "ERR_MODULE_NOT_FOUND";
    throw e;
  }
  return next(specifier, context);
}\`));
`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const qcap = (...args: string[]) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, ["--import", hook, cliPath, ...args], (err, stdout, stderr) =>
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr }),
    ),
  );

describe("without the optional AWS SDK", () => {
  it("other commands and help still work", async () => {
    expect((await qcap("--version")).status).toBe(0);
    const help = await qcap("publish", "--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Examples:");
  });

  it("http(s) registries need no SDK", async () => {
    const index = { kind: "qcap-registry", version: 1, updated: "2026-01-01T00:00:00.000Z", capsules: [] };
    const server = createServer((_req, res) => res.end(JSON.stringify(index)));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const r = await qcap("ls", `http://127.0.0.1:${(server.address() as { port: number }).port}/reg`);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain("0 capsules in");
    } finally {
      server.close();
    }
  });

  it("s3:// registries name the packages to install, exit 2", async () => {
    for (const args of [
      ["ls", "s3://bucket/p"],
      ["fetch", "s3://bucket/p", "x", "-o", join(dir, "x.qcap")],
      ["publish", join(dir, "none.qcap"), "s3://bucket/p"],
    ]) {
      const r = await qcap(...args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim()).toBe(
        "qcap: S3 registries need the optional packages @aws-sdk/client-s3 and @aws-sdk/lib-storage: install them beside qcap",
      );
    }
  });
});
