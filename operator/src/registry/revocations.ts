/**
 * The signed revocation list of a registry prefix (`revocations.json`), kept by the operator: created
 * empty with the first capsule, re-signed with a higher sequence for each revocation and before its
 * next update falls due, so readers that check freshness always find a current list. Written with
 * If-Match / If-None-Match: a concurrent writer makes this reconcile fail and retry from a fresh read.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { SigningKey } from "@qcap/core";
import {
  parseRevocationList,
  type RevocationList,
  serializeRevocationList,
  updateRevocationList,
  verifyRevocationList,
} from "@qcap/core/grant";
import {
  getConsistent,
  isNotFound,
  isWriteConflict,
  lockKey,
  type RegistryLocation,
  registryKey,
  withLock,
} from "@qcap/core/registry";
import { ReconcileError } from "../kube/conditions.js";

/** How long a list is valid; it is re-signed once a quarter of that has passed. */
export const REVOCATION_VALIDITY_MS = 7 * 24 * 3_600_000;
const REFRESH_AFTER_MS = REVOCATION_VALIDITY_MS / 4;

/** Revocation lists are read whole: at most this many bytes (SPEC §10). */
const MAX_LIST_BYTES = 16 * 1024 * 1024;

/** The list and its ETag (read consistently, see getConsistent), or nulls when there is none yet. */
async function readList(
  loc: RegistryLocation,
): Promise<{ list: RevocationList | null; etag: string | null }> {
  const got = await getConsistent(
    loc.client,
    loc.bucket,
    registryKey(loc.prefix, "revocations.json"),
    MAX_LIST_BYTES,
  );
  if (got === null) return { list: null, etag: null };
  return { list: parseRevocationList(got.bytes.toString("utf8")), etag: got.etag };
}

export interface Revocation {
  ids: string[];
  reason: string;
}

/**
 * Makes the prefix's list hold `add` (if any) and be fresh, signed by `key`. Returns the list now
 * published and whether it was rewritten.
 */
export function ensureRevocations(
  loc: RegistryLocation,
  key: SigningKey,
  add: Revocation | null,
  now = Date.now(),
): Promise<{ list: RevocationList; written: boolean }> {
  return withLock(lockKey(loc), async () => {
    const { list: previous, etag } = await readList(loc);
    const issuer = Buffer.from(key.publicKey).toString("hex");
    if (previous) {
      if (previous.issuer !== issuer) {
        throw new ReconcileError(
          "RevocationListConflict",
          `${registryKey(loc.prefix, "revocations.json")} is signed by another key: capsules of one prefix must share a signing key`,
          true,
        );
      }
      // Only our own, untampered list is built upon (staleness does not matter here: we re-sign it).
      verifyRevocationList(previous, { issuer, now, graceMs: Number.MAX_SAFE_INTEGER / 2 });
    }
    const missing = add ? add.ids.filter((id) => !previous?.revoked.some((r) => r.id === id)) : [];
    const age = previous ? now - Date.parse(previous.issuedAt) : Number.POSITIVE_INFINITY;
    if (previous && missing.length === 0 && age < REFRESH_AFTER_MS) return { list: previous, written: false };
    const list = updateRevocationList(previous, {
      key,
      ids: missing,
      reason: add?.reason ?? "refresh",
      now,
      validity: REVOCATION_VALIDITY_MS,
    });
    try {
      // Compare-and-swap, as index.json: another writer's revocation is never overwritten unseen.
      await loc.client.send(
        new PutObjectCommand({
          Bucket: loc.bucket,
          Key: registryKey(loc.prefix, "revocations.json"),
          Body: serializeRevocationList(list),
          ContentType: "application/json",
          CacheControl: "no-cache",
          ...(etag === null ? { IfNoneMatch: "*" } : { IfMatch: etag }),
        }),
      );
    } catch (err) {
      if (isWriteConflict(err) || (etag !== null && isNotFound(err)))
        throw new ReconcileError(
          "RegistryConflict",
          `${registryKey(loc.prefix, "revocations.json")} changed while it was updated: retrying`,
        );
      throw err;
    }
    return { list, written: true };
  });
}
