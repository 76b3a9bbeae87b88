/**
 * The versioned `--json` output (docs/cli-json.md; schemas in core/schemas/). Every document names its
 * schema in a `schema` member, equal to the `$id` of that command's JSON Schema, and says `ok`.
 * Field names mean one thing everywhere: `bytes` a size in bytes, `…Count` a number of things, a
 * plural noun a list, `recipients` a list of `{type, kid?}`.
 */
import type { ErrorKind } from "../errors.js";

/** Bumped, per command, only when a member is removed or changes meaning; members may be added. */
export const JSON_SCHEMA_VERSION = 1;

/** The commands that print a JSON document, each with its schema (core/schemas/NAME.json). */
export type JsonCommand =
  | "pack"
  | "publish"
  | "fetch"
  | "ls"
  | "seal"
  | "verify"
  | "inspect"
  | "open"
  | "keygen"
  | "init"
  | "pubkey"
  | "grant"
  | "attenuate"
  | "revoke"
  | "recipients"
  | "version"
  | "error";

/** `urn:qcap:cli:verify:1`: the `schema` member and the `$id` of core/schemas/verify.json. */
export const schemaId = (command: JsonCommand): string => `urn:qcap:cli:${command}:${JSON_SCHEMA_VERSION}`;

/** The document `command` prints: its schema and `ok: true` first, then `data`. */
export function jsonDocument(command: JsonCommand, data: object): Record<string, unknown> {
  return { schema: schemaId(command), ok: true, ...data };
}

/** What a failed run prints on stdout with --json, beside its one line on stderr. */
export function errorDocument(
  code: number,
  kind: ErrorKind | "interrupted" | "internal",
  message: string,
): Record<string, unknown> {
  return { schema: schemaId("error"), ok: false, error: { code, kind, message } };
}

/**
 * Whether the user asked for --json: an exact `--json` word before any `--`. Read from argv itself,
 * since a failure may come before (or from) option parsing.
 */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}

/** Recipients as `{type, kid}` (X25519) or `{type}` (passphrase), as in the manifest. */
export function recipientList(
  stanzas: readonly { type: string; kid?: string }[],
): ({ type: string; kid: string } | { type: string })[] {
  return stanzas.map((r) =>
    r.type === "x25519" && r.kid !== undefined ? { type: r.type, kid: r.kid } : { type: r.type },
  );
}

/**
 * A grant as `describeGrant` gives it, with the CLI's names: `capsuleRoot` (`capsule` is a path
 * elsewhere), `grantedEntryCount` and `issuerCaveatCount`.
 */
export function grantJson<G extends { capsule: string; entriesGranted: number; issuerCaveats: number }>(
  g: G,
): Omit<G, "capsule" | "entriesGranted" | "issuerCaveats"> & {
  capsuleRoot: string;
  grantedEntryCount: number;
  issuerCaveatCount: number;
} {
  const { capsule, entriesGranted, issuerCaveats, ...rest } = g;
  return {
    ...rest,
    capsuleRoot: capsule,
    grantedEntryCount: entriesGranted,
    issuerCaveatCount: issuerCaveats,
  };
}
