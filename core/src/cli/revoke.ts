/** `qcap revoke`: add grant ids to (or create) the issuer's signed revocation list. */
import { lstat } from "node:fs/promises";
import type { Command } from "commander";
import { toHex } from "../crypto/bytes.js";
import { kid } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import {
  parseRevocationList,
  type RevocationList,
  serializeRevocationList,
  updateRevocationList,
  verifyRevocationList,
} from "../grant/revocation.js";
import { parseDuration, parseRfc3339 } from "../grant/time.js";
import { readTextLimited } from "../io/limited-read-node.js";
import { MAX_LIST_BYTES } from "./grant-io.js";
import { loadSigningKey } from "./keys.js";
import { now, print, printJson, writeTextFile } from "./output.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface RevokeOpts {
  id?: string[];
  reason?: string;
  signKey?: string;
  list: string;
  nextUpdate?: string;
  json?: boolean;
}

async function existing(path: string): Promise<string | null> {
  try {
    await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
  }
  return readTextLimited(path, "revocation list", MAX_LIST_BYTES);
}

async function revokeCommand(o: RevokeOpts): Promise<void> {
  const t = now();
  const key = await loadSigningKey(o.signKey);
  const validity =
    parseDuration(o.nextUpdate ?? "7d") ?? fail("usage", "--next-update must be a duration (12h, 7d, 2w)");
  const text = await existing(o.list);
  let previous: RevocationList | null = null;
  if (text !== null) {
    previous = parseRevocationList(text);
    // Only the issuer updates its list; staleness does not matter here, the new list replaces it.
    verifyRevocationList(previous, {
      issuer: toHex(key.publicKey),
      now: parseRfc3339(previous.issuedAt) as number,
    });
  }
  const ids = (o.id ?? []).map((s) => s.trim().toLowerCase());
  const list = updateRevocationList(previous, {
    key,
    ids,
    reason: o.reason ?? "unspecified",
    now: t,
    validity,
  });
  await writeTextFile(o.list, serializeRevocationList(list), { mode: 0o644, force: true });
  const added = list.revoked.length - (previous?.revoked.length ?? 0);
  const info = {
    list: o.list,
    issuer: list.issuer,
    issuerFingerprint: kid(key.publicKey),
    sequence: list.sequence,
    issuedAt: list.issuedAt,
    nextUpdate: list.nextUpdate,
    added,
    revoked: list.revoked.length,
  };
  if (o.json) return printJson(info);
  print(`wrote ${o.list}: sequence ${list.sequence}, ${list.revoked.length} revoked (${added} added)`);
  print(
    `next update due ${list.nextUpdate}: publish a refreshed list before then (qcap revoke --list ${o.list})`,
  );
}

export function registerRevoke(p: Command): void {
  p.command("revoke")
    .description("add grant ids to a signed revocation list (or create it; without --id: refresh it)")
    .option("--id <token-id>", "the grant id to revoke, 32 hex digits (repeatable)", collect)
    .option("--reason <text>", "why (one line, recorded in the list)")
    .option("--sign-key <file>", "the issuer's signing key (default: qcap init's key)")
    .requiredOption("--list <file>", "the revocation list to update or create")
    .option("--next-update <duration>", "when the next list is due (default 7d)")
    .option("--json", "machine-readable output")
    .action((o: RevokeOpts) => revokeCommand(o));
}
