/** Grant files and revocation lists named on the command line (files, or lists at http(s) URLs). */
import { fail } from "../errors.js";
import { type Grant, parseGrant } from "../grant/grant.js";
import { parseRevocationList, type RevocationList, verifyRevocationList } from "../grant/revocation.js";
import { highestSeen, recordSeen } from "../grant/revocation-state-node.js";
import { readText } from "./keys.js";

const MAX_LIST_BYTES = 16 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 30_000;

export async function readGrant(path: string): Promise<Grant> {
  return parseGrant(await readText(path, "grant"));
}

/** `payload/` + glob unless it already names payload/ (CLI globs are relative to payload/). */
export const payloadGlob = (g: string): string => (g.startsWith("payload/") ? g : `payload/${g}`);

async function fetchText(url: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: "follow" });
  } catch (e) {
    return fail("input", `cannot fetch the revocation list ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) fail("input", `cannot fetch the revocation list ${url}: HTTP ${res.status}`);
  const length = Number(res.headers.get("content-length") ?? "0");
  if (length > MAX_LIST_BYTES) fail("input", `the revocation list ${url} is larger than 16 MiB`);
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > MAX_LIST_BYTES) fail("input", `the revocation list ${url} is larger than 16 MiB`);
  return new TextDecoder().decode(body);
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
    : await readText(location, "revocation list");
  const list = parseRevocationList(text);
  const seen = await highestSeen(list.issuer);
  verifyRevocationList(list, { issuer, now, ...(seen !== undefined ? { highestSeen: seen } : {}) });
  await recordSeen(list);
  return list;
}
