/** Grant files and revocation lists named on the command line (files, or lists at http(s) URLs). */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { fail } from "../errors.js";
import { type Grant, parseGrant } from "../grant/grant.js";
import { parseRevocationList, type RevocationList, verifyRevocationList } from "../grant/revocation.js";
import { fetchLimited, MiB } from "../io/limited-read-node.js";
import { highestSeen, recordSeen } from "../node/revocation-state.js";
import { readText } from "./keys.js";

/** SPEC §12.3: revocation lists are at most 16 MiB, from a file or over HTTP. */
export const MAX_LIST_BYTES = 16 * MiB;
/** SPEC §11.4: wrapped keys of at most 32 Mi hex digits, with the signed part and the token. */
export const MAX_GRANT_BYTES = 48 * MiB;
const FETCH_TIMEOUT_MS = 30_000;

export async function readGrant(path: string): Promise<Grant> {
  if (await startsWithZip(path)) fail("usage", `${path}: this is a capsule, --cap wants a grant file`);
  return parseGrant(await readText(path, "grant", MAX_GRANT_BYTES));
}

/** A capsule (a ZIP: local header `PK\x03\x04`) given where a grant belongs. */
async function startsWithZip(path: string): Promise<boolean> {
  let fh: FileHandle | undefined;
  try {
    // Non-blocking: a FIFO must not be waited on here (readText refuses it with its own message).
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    if (!(await fh.stat()).isFile()) return false;
    const head = new Uint8Array(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return bytesRead === 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4;
  } catch {
    return false; // readText names the file system error
  } finally {
    await fh?.close();
  }
}

/** `payload/` + glob unless it already names payload/ (CLI globs are relative to payload/). */
export const payloadGlob = (g: string): string => (g.startsWith("payload/") ? g : `payload/${g}`);

async function fetchText(url: string): Promise<string> {
  return new TextDecoder().decode(
    await fetchLimited(url, "the revocation list", MAX_LIST_BYTES, FETCH_TIMEOUT_MS),
  );
}

/**
 * A revocation list from a file or URL, trusted only once verified: signed by `issuer`, not older
 * than the highest sequence seen from that issuer (kept in the state folder), not stale. The new
 * sequence is then recorded.
 */
export async function loadRevocations(
  location: string,
  issuer: string,
  now: number,
): Promise<RevocationList> {
  const text = /^https?:\/\//i.test(location)
    ? await fetchText(location)
    : await readText(location, "revocation list", MAX_LIST_BYTES);
  const list = parseRevocationList(text);
  const seen = await highestSeen(list.issuer);
  verifyRevocationList(list, { issuer, now, ...(seen !== undefined ? { highestSeen: seen } : {}) });
  await recordSeen(list);
  return list;
}
