/** The registry layout without S3: parsing index.json, naming entries, registry addresses. */
import { describe, expect, it } from "vitest";
import type { QcapError } from "../src/errors.js";
import {
  emptyIndex,
  parseEntryName,
  parseIndex,
  pickEntry,
  type RegistryEntry,
  renderHtml,
} from "../src/registry/layout.js";
import { objectUrl, parseRegistryAddress } from "../src/registry/location.js";

const entry = (namespace: string, name: string, root = "ab".repeat(32)): RegistryEntry => ({
  namespace,
  name,
  revision: "sha256:00",
  root,
  size: 10,
  digest: "sha256:00",
  url: "https://example.org/x.qcap",
  key: `${namespace}/${name}/x.qcap`,
  issuer: "cd".repeat(32),
  sealed: true,
  updated: "2026-01-01T00:00:00.000Z",
});

const index = { ...emptyIndex(), capsules: [entry("default", "data"), entry("a", "dup"), entry("b", "dup")] };

const failure = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e as QcapError;
  }
  throw new Error("did not fail");
};

describe("registry layout", () => {
  it("parses an index and refuses what is not one", () => {
    expect(parseIndex(JSON.stringify(index), "x").capsules).toHaveLength(3);
    expect(failure(() => parseIndex("<html>", "u")).message).toBe("u is not a registry: not valid JSON");
    expect(failure(() => parseIndex('{"kind":"other"}', "u")).message).toMatch(/is not a registry/);
    expect(failure(() => parseIndex(JSON.stringify({ ...index, version: 2 }), "u")).message).toMatch(
      /unsupported registry version 2/,
    );
    const broken = { ...index, capsules: [{ ...entry("a", "b"), size: "10" }] };
    expect(failure(() => parseIndex(JSON.stringify(broken), "u")).message).toMatch(
      /capsule 1 is not a valid/,
    );
    const badRoot = { ...index, capsules: [entry("a", "b", "<script>")] };
    expect(failure(() => parseIndex(JSON.stringify(badRoot), "u")).kind).toBe("input");
  });

  it("picks entries by name, namespace/name, @latest and @ROOT", () => {
    expect(pickEntry(index, "data").name).toBe("data");
    expect(pickEntry(index, "default/data@latest").name).toBe("data");
    expect(pickEntry(index, `a/dup@${"ab".repeat(32)}`).namespace).toBe("a");
    expect(failure(() => pickEntry(index, "dup")).message).toBe('"dup" is ambiguous: a/dup, b/dup');
    expect(failure(() => pickEntry(index, "none")).exitCode).toBe(2);
    expect(failure(() => pickEntry(index, `data@${"ef".repeat(32)}`)).message).toMatch(
      /is published with root abab.*, not efef/,
    );
    expect(failure(() => pickEntry(index, "data@v1")).kind).toBe("usage");
  });

  it("checks names and registry addresses", () => {
    expect(parseEntryName("data")).toEqual({ namespace: "default", name: "data" });
    expect(parseEntryName("team/data-1.2")).toEqual({ namespace: "team", name: "data-1.2" });
    for (const bad of ["Data", "a/b/c", "../x", "", "a/"])
      expect(failure(() => parseEntryName(bad)).kind).toBe("usage");
    expect(parseRegistryAddress("s3://bucket/a/b/")).toEqual({ kind: "s3", bucket: "bucket", prefix: "a/b" });
    expect(parseRegistryAddress("s3://bucket")).toEqual({ kind: "s3", bucket: "bucket", prefix: "" });
    expect(parseRegistryAddress("https://x.org/reg/")).toEqual({ kind: "http", base: "https://x.org/reg" });
    for (const bad of ["s3://B/x", "s3://bucket/../x", "ftp://x", "https://x.org/?q=1", "bucket/x"])
      expect(failure(() => parseRegistryAddress(bad)).exitCode).toBe(2);
  });

  it("makes object URLs and escapes the page", () => {
    expect(objectUrl({ bucket: "b", endpoint: "http://h:9000/" }, "p/a b.qcap")).toBe(
      "http://h:9000/b/p/a%20b.qcap",
    );
    expect(objectUrl({ bucket: "b", publicURL: "https://cdn/x/", prefix: "p" }, "p/n/a.qcap")).toBe(
      "https://cdn/x/n/a.qcap",
    );
    const html = renderHtml({ ...emptyIndex(), capsules: [{ ...entry("a", "b"), url: '"><script>' }] });
    expect(html).not.toContain("<script>");
  });
});
