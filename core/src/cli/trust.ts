/**
 * Who signed a capsule, and whether the user pinned that key (SPEC, "Trust in signers"): `--trust KEY` pins keys for
 * one run, the trust store file pins them for every run, and `--require-trust` or
 * `QCAP_REQUIRE_TRUST=1` refuses a capsule whose signer is pinned by neither. Either way `open`, `cat`
 * and `verify` name the signer, so that trust on first sight is never silent.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Capsule } from "../capsule/capsule.js";
import { fromHex, toHex } from "../crypto/bytes.js";
import { kid } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { parsePublicKey } from "../keys/ed25519.js";
import { qcapConfigDir } from "../node/config.js";
import { escapeText } from "./escape.js";
import { openCapsule } from "./io.js";
import { loadTrusted } from "./keys.js";

/** A trust store is a short list of keys: a larger file is refused rather than read. */
const MAX_STORE_BYTES = 1024 * 1024;

export interface TrustOpts {
  trust?: string[];
  requireTrust?: boolean;
}

export interface Signer {
  publicKey: string;
  fingerprint: string;
  /** What pinned the key: a `--trust` argument, the trust store, or nothing. */
  pinned: "trust" | "store" | null;
}

/** `$QCAP_CONFIG_DIR/trusted`, else `$XDG_CONFIG_HOME/qcap/trusted`, else `~/.config/qcap/trusted`. */
export const trustStorePath = (env: NodeJS.ProcessEnv = process.env): string =>
  join(qcapConfigDir(env), "trusted");

/** True when `QCAP_REQUIRE_TRUST` is set to anything but "" or "0". */
export const requireTrustFromEnv = (env: NodeJS.ProcessEnv = process.env): boolean =>
  env.QCAP_REQUIRE_TRUST !== undefined && env.QCAP_REQUIRE_TRUST !== "" && env.QCAP_REQUIRE_TRUST !== "0";

/** Parses a trust store: one Ed25519 public key (64 hex digits) per line; `#` starts a comment. */
export function parseTrustStore(text: string, path: string): Uint8Array[] {
  const keys: Uint8Array[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    if (!/^[0-9a-fA-F]{64}$/.test(line)) {
      fail("input", `${path} line ${i + 1}: not an Ed25519 public key (64 hex digits)`);
    }
    try {
      keys.push(parsePublicKey(line));
    } catch (e) {
      fail("input", `${path} line ${i + 1}: ${(e as Error).message}`);
    }
  });
  return keys;
}

/** The keys of the trust store; none when it does not exist. */
export async function readTrustStore(path: string = trustStorePath()): Promise<Uint8Array[]> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return [];
    return fail("input", `cannot read the trust store ${path}: ${code ?? (e as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) fail("input", `the trust store ${path} is not a regular file`);
    const buf = Buffer.alloc(MAX_STORE_BYTES + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > MAX_STORE_BYTES) fail("input", `the trust store ${path} is larger than 1 MiB`);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, n));
    } catch {
      return fail("input", `the trust store ${path} is not UTF-8 text`);
    }
    return parseTrustStore(text, path);
  } finally {
    await fh.close();
  }
}

/** The signer of an opened capsule against the pinned keys; refused when trust is required. */
export function checkSigner(
  capsule: Capsule,
  pins: { trust: Uint8Array[]; store: Uint8Array[]; storePath: string; require: boolean },
): Signer {
  const hex = capsule.manifest.issuer;
  const has = (keys: Uint8Array[]) => keys.some((k) => toHex(k) === hex);
  const pinned = has(pins.trust) ? "trust" : has(pins.store) ? "store" : null;
  const fingerprint = kid(fromHex(hex));
  if (pinned === null && pins.require) {
    fail(
      "unauthorized",
      `the capsule is signed by ${hex} (fingerprint ${fingerprint}), which is not pinned: pass --trust ${hex} or add it to ${pins.storePath}`,
    );
  }
  return { publicKey: hex, fingerprint, pinned };
}

/** How `verify` states the pin: "trusted" as before for --trust, the store, or how to pin. */
export const pinnedText = (s: Signer): string =>
  s.pinned === "trust"
    ? "trusted"
    : s.pinned === "store"
      ? `pinned in ${trustStorePath()}`
      : "not pinned: pass --trust to require a key";

/** The signer line on stderr: a warning when the key is pinned by nothing. */
export function reportSigner(s: Signer, storePath: string): void {
  const who = `signer ${s.publicKey} (fingerprint ${s.fingerprint})`;
  const line =
    s.pinned === "trust"
      ? `qcap: ${who}, pinned by --trust`
      : s.pinned === "store"
        ? `qcap: ${who}, pinned in ${storePath}`
        : `qcap: warning: ${who} is not pinned: anyone can sign a capsule; pass --trust or add the key to ${storePath} (--require-trust refuses unpinned signers)`;
  process.stderr.write(`${escapeText(line)}\n`);
}

/**
 * Opens a capsule for `open`, `cat` or `verify`: `--trust` keys are required by the signature check
 * itself; otherwise the signer is looked up in the trust store and, with --require-trust, refused
 * unless found there. Nothing is decrypted before this returns. `report` writes the signer line; the
 * commands call it once they succeeded, so that a refusal stays one line.
 */
export async function openTrusted(
  location: string,
  o: TrustOpts,
): Promise<{ capsule: Capsule; signer: Signer; report: () => void }> {
  const trust = await loadTrusted(o.trust ?? []);
  const storePath = trustStorePath();
  const store = await readTrustStore(storePath);
  const require = o.requireTrust === true || requireTrustFromEnv();
  const capsule = await openCapsule(location, { trust });
  try {
    const signer = checkSigner(capsule, { trust, store, storePath, require });
    return { capsule, signer, report: () => reportSigner(signer, storePath) };
  } catch (e) {
    await capsule.source.close();
    throw e;
  }
}

/**
 * `seal` signs its output with the user's key. When the input was signed by another key, that is a
 * change of issuer the user should see (as `recipients` says): warns, and returns what `--json` reports.
 */
export function resigning(
  capsule: Capsule,
  signingPublicKey: Uint8Array,
): { previousIssuer: string; previousFingerprint: string; issuer: string } | null {
  const previous = capsule.manifest.issuer;
  const issuer = toHex(signingPublicKey);
  if (previous === issuer) return null;
  const previousFingerprint = kid(fromHex(previous));
  process.stderr.write(
    `${escapeText(`qcap: warning: the capsule was signed by ${previous} (fingerprint ${previousFingerprint}), not by your key: the sealed capsule is re-signed by ${issuer} (fingerprint ${kid(signingPublicKey)})`)}\n`,
  );
  return { previousIssuer: previous, previousFingerprint, issuer };
}
