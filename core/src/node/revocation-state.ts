/**
 * The local memory of revocation lists (SPEC §12.3): the highest sequence seen per issuer, in
 * `revocations-seen.json` under the user's state folder, so a list older than one already seen is
 * refused (a rollback). Node only.
 */
import { randomBytes } from "node:crypto";
import { lstat, mkdir, rename, unlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fail } from "../errors.js";
import { type RevocationList, revocationDigest } from "../grant/revocation.js";
import { MiB, readTextLimited } from "../io/limited-read-node.js";

const FILE = "revocations-seen.json";
/** One sequence and digest per issuer: a few hundred bytes each. */
const MAX_STATE_BYTES = 16 * MiB;

/** `$QCAP_STATE_DIR`, else `$XDG_STATE_HOME/qcap`, else `~/.local/state/qcap`. */
export function qcapStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.QCAP_STATE_DIR) return env.QCAP_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "qcap");
  return join(homedir(), ".local", "state", "qcap");
}

interface Seen {
  sequence: number;
  digest: string;
}

interface State {
  version: 1;
  issuers: Record<string, Seen>;
}

async function readState(dir: string): Promise<State> {
  try {
    await lstat(join(dir, FILE));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, issuers: {} };
  }
  const text = await readTextLimited(join(dir, FILE), "revocation state", MAX_STATE_BYTES);
  try {
    const s = JSON.parse(text) as State;
    if (s.version !== 1 || typeof s.issuers !== "object" || s.issuers === null) throw new Error();
    return s;
  } catch {
    // Refuse rather than start over: a reset state would accept a rolled-back list.
    return fail("input", `${join(dir, FILE)} is corrupt: fix or remove it`);
  }
}

/** The highest sequence seen from `issuer` (64 hex), if any. */
export async function highestSeen(issuer: string, dir = qcapStateDir()): Promise<number | undefined> {
  return (await readState(dir)).issuers[issuer]?.sequence;
}

/**
 * Records a verified list. A lower sequence than the one seen is a rollback; the same sequence
 * with different contents means the issuer signed two lists with one number: both are refused.
 */
export async function recordSeen(list: RevocationList, dir = qcapStateDir()): Promise<void> {
  const state = await readState(dir);
  const seen = state.issuers[list.issuer];
  const digest = revocationDigest(list);
  if (seen) {
    if (list.sequence < seen.sequence) {
      fail(
        "unauthorized",
        `the revocation list was rolled back: sequence ${list.sequence} is lower than ${seen.sequence}, already seen`,
      );
    }
    if (list.sequence === seen.sequence) {
      if (seen.digest !== digest) {
        fail("unauthorized", `two different revocation lists carry sequence ${list.sequence}: refusing both`);
      }
      return;
    }
  }
  state.issuers[list.issuer] = { sequence: list.sequence, digest };
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${FILE}.${randomBytes(6).toString("hex")}.tmp`);
    await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, join(dir, FILE)).catch(async (e) => {
      await unlink(tmp).catch(() => {});
      throw e;
    });
  } catch (e) {
    fail(
      "input",
      `cannot write ${join(dir, FILE)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}
