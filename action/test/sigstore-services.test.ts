/** Which sigstore services a keyless attestation uses: GitHub's choice by default, inputs override it. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repositoryVisibility, sigstoreServices } from "../src/sigstore.js";

const dir = mkdtempSync(join(tmpdir(), "qcap-sigstore-services-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function event(name: string, repository: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ repository }));
  return path;
}

const none = { sigstoreInstance: "auto", rekorApiVersion: 1 } as const;

describe("sigstore services", () => {
  it("public repositories: the public-good Fulcio and Rekor log, as actions/attest chooses", () => {
    const env = { GITHUB_EVENT_PATH: event("public.json", { visibility: "public", private: false }) };
    expect(sigstoreServices(none, env)).toEqual({
      instance: "public-good",
      fulcioUrl: "https://fulcio.sigstore.dev",
      rekorUrl: "https://rekor.sigstore.dev",
      rekorApiVersion: 1,
    });
  });

  it("private and internal repositories: GitHub's Fulcio and timestamp authority, nothing public", () => {
    for (const visibility of ["private", "internal"]) {
      const env = { GITHUB_EVENT_PATH: event(`${visibility}.json`, { visibility }) };
      expect(sigstoreServices(none, env)).toEqual({
        instance: "github",
        fulcioUrl: "https://fulcio.githubapp.com",
        tsaUrl: "https://timestamp.githubapp.com",
        rekorApiVersion: 1,
      });
    }
    // A GHE.com tenant has its own instance.
    const env = {
      GITHUB_EVENT_PATH: event("ghe.json", { visibility: "private" }),
      GITHUB_SERVER_URL: "https://acme.ghe.com",
    };
    expect(sigstoreServices(none, env)).toMatchObject({
      fulcioUrl: "https://fulcio.acme.ghe.com",
      tsaUrl: "https://timestamp.acme.ghe.com",
    });
  });

  it("visibility: the event's `visibility`, else its `private`, else the token's claim, else GitHub's instance", () => {
    expect(repositoryVisibility({ GITHUB_EVENT_PATH: event("old.json", { private: false }) })).toBe("public");
    expect(repositoryVisibility({ GITHUB_EVENT_PATH: event("none.json", {}) }, "public")).toBe("public");
    expect(repositoryVisibility({ GITHUB_EVENT_PATH: join(dir, "missing.json") }, "private")).toBe("private");
    expect(sigstoreServices(none, {}).instance).toBe("github");
    expect(sigstoreServices(none, {}, "public").instance).toBe("public-good");
  });

  it("inputs override: an instance by name, or exactly the services named", () => {
    const env = { GITHUB_EVENT_PATH: event("public2.json", { visibility: "public" }) };
    expect(sigstoreServices({ ...none, sigstoreInstance: "github" }, env).instance).toBe("github");
    expect(
      sigstoreServices({ ...none, sigstoreInstance: "public-good", tsaUrl: "https://tsa.example" }, {}),
    ).toEqual({
      instance: "public-good",
      fulcioUrl: "https://fulcio.sigstore.dev",
      tsaUrl: "https://tsa.example",
      rekorUrl: "https://rekor.sigstore.dev",
      rekorApiVersion: 1,
    });
    expect(
      sigstoreServices(
        { ...none, fulcioUrl: "https://fulcio.example", rekorUrl: "https://log.example", rekorApiVersion: 2 },
        env,
      ),
    ).toEqual({
      instance: "custom",
      fulcioUrl: "https://fulcio.example",
      rekorUrl: "https://log.example",
      rekorApiVersion: 2,
    });
    expect(() => sigstoreServices(none, { GITHUB_SERVER_URL: "https://git.example.com" })).toThrow(
      /GitHub's sigstore instance serves github\.com and GHE\.com only, not git\.example\.com: set fulcio-url and tsa-url/,
    );
  });
});
