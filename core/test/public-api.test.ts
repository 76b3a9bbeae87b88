/**
 * The public API of the package as installed: each entry point of core/package.json's `exports`,
 * imported from the build (run `npx tsc -b core` first) by its package name, and its declared types
 * read from the .d.ts the package ships. Both are compared with the lists below, so the API only
 * grows (or shrinks) on purpose: changing it means changing this file.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const CORE = join(import.meta.dirname, "..");

interface Api {
  /** Names exported at run time (functions, classes, constants). */
  values: string[];
  /** Names exported only as types. */
  types: string[];
}

const API: Record<string, Api> = {
  ".": {
    values: [
      "Capsule",
      "QcapError",
      "alreadySorted",
      "attenuateGrant",
      "blobSource",
      "bytesInput",
      "bytesSource",
      "checkGrant",
      "encodeIdentity",
      "encodeRecipient",
      "generateKeyFile",
      "grantEntryKeys",
      "httpSource",
      "issueGrant",
      "loadKeyMaterial",
      "masterEntryKeys",
      "memorySink",
      "pack",
      "parseGrant",
      "parseIdentity",
      "parsePublicKey",
      "parseRecipient",
      "parseSigningKey",
      "plainChunks",
      "rangeSource",
      "readRange",
      "realNames",
      "serializeGrant",
      "tailCachedSource",
      "unlockMasterKey",
    ],
    types: [
      "AttenuateOptions",
      "CapsuleEntry",
      "CheckOptions",
      "CheckedGrant",
      "EntryKeys",
      "ErrorKind",
      "Grant",
      "GrantEntry",
      "HttpSourceInit",
      "IssueOptions",
      "KeyFile",
      "KeyMaterial",
      "Keyring",
      "Manifest",
      "NameSorter",
      "NamedInput",
      "OpenOptions",
      "PackInput",
      "PackOptions",
      "PackResult",
      "RangeSource",
      "SigningKey",
      "Sink",
    ],
  },
  "./node": {
    values: [
      "createEngine",
      "defaultKeyPath",
      "directoryInputs",
      "extract",
      "extractAll",
      "fileInput",
      "fileSink",
      "fileSource",
      "highestSeen",
      "qcapConfigDir",
      "qcapStateDir",
      "recordSeen",
      "removeTempsNow",
      "spillSorter",
      "withEngine",
    ],
    types: [
      "Engine",
      "EngineKind",
      "EngineOptions",
      "ExtractItem",
      "ExtractOptions",
      "ExtractTarget",
      "FileSinkOptions",
      "SpillSorterOptions",
    ],
  },
  "./grant": {
    values: [
      "describeGrant",
      "formatCaveat",
      "parseCaveat",
      "parseRevocationList",
      "serializeRevocationList",
      "updateRevocationList",
      "verifyRevocationList",
    ],
    types: ["Allow", "Caveat", "RevocationList", "RevocationUpdate", "Revoked", "VerifyListOptions"],
  },
  "./attest": {
    values: [
      "GITHUB_WORKFLOW_BUILD_TYPE",
      "SLSA_PROVENANCE_V1",
      "buildStatement",
      "certificateIdentity",
      "checkSubject",
      "githubProvenance",
      "githubRunFromClaims",
      "githubRunFromEnv",
      "idTokenClaims",
      "parseBundle",
      "parseStatement",
      "sha256Source",
      "signStatement",
      "subjectRoot",
      "verifyAttestation",
      "workflowPath",
    ],
    types: [
      "AttestationResult",
      "CapsuleSubject",
      "GitHubRun",
      "KeyOptions",
      "KeylessOptions",
      "ResourceDescriptor",
      "SignOptions",
      "Statement",
      "VerifyAttestationOptions",
    ],
  },
  "./registry": {
    values: [
      "INDEX_FILE",
      "REVOCATIONS_FILE",
      "RegistryError",
      "getConsistent",
      "isNotFound",
      "isUnreachable",
      "isWriteConflict",
      "lockKey",
      "objectUrl",
      "parseIndex",
      "parseRegistryAddress",
      "pickEntry",
      "readIndex",
      "registryKey",
      "s3ErrorMessage",
      "updateEntry",
      "updateIndex",
      "withLock",
    ],
    types: [
      "RegistryAddress",
      "RegistryEntry",
      "RegistryErrorCode",
      "RegistryIndex",
      "RegistryLocation",
      "UpdateOptions",
      "UpdateResult",
    ],
  },
};

/** Entry points that must load in a browser: no Node built-in anywhere in their import graph. */
const BROWSER_SAFE = [".", "./grant"];

type Exports = Record<string, { types: string; default: string }>;
const exportsMap = (JSON.parse(readFileSync(join(CORE, "package.json"), "utf8")) as { exports: Exports })
  .exports;
const specifier = (sub: string) => (sub === "." ? "@qcap/core" : `@qcap/core/${sub.slice(2)}`);

/** Every name each declaration file exports (values and types), as TypeScript sees it. */
function declaredNames(): Map<string, string[]> {
  const files = Object.fromEntries(Object.entries(exportsMap).map(([sub, e]) => [sub, join(CORE, e.types)]));
  const program = ts.createProgram(Object.values(files), {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  });
  const checker = program.getTypeChecker();
  const out = new Map<string, string[]>();
  for (const [sub, file] of Object.entries(files)) {
    const sf = program.getSourceFile(file);
    const symbol = sf && checker.getSymbolAtLocation(sf);
    if (!symbol) throw new Error(`no declarations for ${sub} at ${file}`);
    out.set(
      sub,
      checker.getExportsOfModule(symbol).map((s) => s.name),
    );
  }
  return out;
}

describe("public API", () => {
  it("has exactly the listed entry points", () => {
    expect(Object.keys(exportsMap).sort()).toEqual(Object.keys(API).sort());
  });

  for (const [sub, api] of Object.entries(API)) {
    it(`${sub} exports exactly the listed values`, async () => {
      const mod = (await import(specifier(sub))) as Record<string, unknown>;
      expect(Object.keys(mod).sort()).toEqual([...api.values].sort());
    });
  }

  it("each entry point declares exactly the listed values and types", () => {
    const declared = declaredNames();
    for (const [sub, api] of Object.entries(API)) {
      expect(declared.get(sub)?.sort(), sub).toEqual([...api.values, ...api.types].sort());
    }
  });

  it("keeps each subpath narrow", () => {
    for (const [sub, api] of Object.entries(API)) {
      if (sub === ".") continue;
      expect(api.values.length + api.types.length, sub).toBeGreaterThanOrEqual(10);
      expect(api.values.length + api.types.length, sub).toBeLessThanOrEqual(25);
    }
  });

  it.each(BROWSER_SAFE)("%s bundles for the browser without Node built-ins", async (sub) => {
    const entry = join(CORE, exportsMap[sub]?.default as string);
    // esbuild fails on any node:* import when bundling for the browser.
    const r = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      platform: "browser",
      format: "esm",
      logLevel: "silent",
    });
    expect(r.errors).toEqual([]);
  });
});
