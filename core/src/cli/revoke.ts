/** `qcap revoke`: add grant ids to (or create) the issuer's signed revocation list. */
import { lstat } from "node:fs/promises";
import { resolve } from "node:path";
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
import { now, plural, print, printJson, refuseToOverwrite, writeTextFile } from "./output.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface RevokeOpts {
  id?: string[];
  reason?: string;
  signKey?: string;
  list: string;
  output?: string;
  force?: boolean;
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
  // Updating --list in place is what revoke is for; any other existing file is replaced only with --force.
  const output = o.output ?? o.list;
  const inPlace = resolve(output) === resolve(o.list);
  if (!inPlace) await refuseToOverwrite(output, o.force);
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
  await writeTextFile(output, serializeRevocationList(list), {
    mode: 0o644,
    // In place: replace the list that was read, or refuse one that appeared since it was found missing.
    force: inPlace ? text !== null : (o.force ?? false),
  });
  const added = list.revoked.length - (previous?.revoked.length ?? 0);
  const info = {
    listFile: output,
    issuer: list.issuer,
    issuerFingerprint: kid(key.publicKey),
    sequence: list.sequence,
    issuedAt: list.issuedAt,
    nextUpdate: list.nextUpdate,
    addedCount: added,
    revokedCount: list.revoked.length,
  };
  if (o.json) return printJson("revoke", info);
  print(
    `wrote ${output}: sequence ${list.sequence}, ${plural(list.revoked.length, "id")} revoked (${added} added)`,
  );
  print(
    `next update due ${list.nextUpdate}: publish a refreshed list before then (qcap revoke --list ${output})`,
  );
}

export function registerRevoke(p: Command): void {
  p.command("revoke")
    .description("add grant ids to a signed revocation list (or create it; without --id: refresh it)")
    .option("--id <token-id>", "the grant id to revoke, 32 hex digits (repeatable)", collect)
    .option("--reason <text>", "why (one line, recorded in the list)")
    .option("--sign-key <file>", "the issuer's signing key (default: qcap init's key)")
    .requiredOption("--list <file>", "the revocation list to update (in place) or create")
    .option("-o, --output <file>", "write the updated list here instead of in place")
    .option("--force", "replace an existing --output file")
    .option("--next-update <duration>", "when the next list is due (default 7d)")
    .option("--json", "machine-readable output")
    .action((o: RevokeOpts) => revokeCommand(o));
}
