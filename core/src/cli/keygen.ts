/** `qcap keygen`: a new key file, protected by a passphrase unless --unprotected. */
import { lstat } from "node:fs/promises";
import type { Command } from "commander";
import { kid } from "../crypto/recipients.js";
import { fail, QcapError } from "../errors.js";
import { parseRecipient } from "../keys/age.js";
import { generateKeyFile, serializeKeyFile } from "../keys/keyfile.js";
import { writeKeyFile } from "../keys/keyfile-node.js";
import { fingerprintHex, protectKeyFile } from "../keys/keyfile-protected.js";
import { fsReason } from "../node/source.js";
import { KEY_PASSPHRASE_ENV } from "./keys.js";
import { print, printJson } from "./output.js";
import { readPassphrase } from "./passphrase.js";

export interface NewKeyInfo {
  keyFile: string;
  protected: boolean;
  signingPublicKey: string;
  signingFingerprint: string;
  recipient: string;
  recipientKid: string;
}

/** Writes a fresh key file (mode 0600, atomically) and returns its public parts. */
export async function writeNewKey(
  path: string,
  o: { unprotected?: boolean; force?: boolean },
): Promise<NewKeyInfo> {
  if (!o.force) {
    // Before asking for a passphrase: a refusal to overwrite should not cost one.
    try {
      await lstat(path);
      fail("input", `refusing to overwrite ${path} (use --force to replace it)`);
    } catch (e) {
      if (e instanceof QcapError) throw e;
      if ((e as NodeJS.ErrnoException).code !== "ENOENT")
        fail("input", `cannot write ${path}: ${fsReason(e)}`, e);
    }
  }
  const key = generateKeyFile();
  const text = o.unprotected
    ? serializeKeyFile(key)
    : await protectKeyFile(key, await readPassphrase(`Passphrase for ${path}: `, true, KEY_PASSPHRASE_ENV));
  await writeKeyFile(path, text, { force: o.force ?? false });
  return {
    keyFile: path,
    protected: !o.unprotected,
    signingPublicKey: key.public.ed25519,
    signingFingerprint: fingerprintHex(key.public.ed25519),
    recipient: key.public.recipient,
    recipientKid: kid(parseRecipient(key.public.recipient)),
  };
}

export function printNewKey(info: NewKeyInfo): void {
  print(
    `wrote ${info.keyFile} (keep it secret; mode 0600, ${info.protected ? "protected by a passphrase" : "NOT protected"})`,
  );
  print(`signing public key: ${info.signingPublicKey} (fingerprint ${info.signingFingerprint})`);
  print(`recipient:          ${info.recipient}`);
  print(`recipient key id:   ${info.recipientKid}`);
}

export function registerKeygen(p: Command): void {
  p.command("keygen")
    .description("make an Ed25519 signing key and an X25519 identity in one key file")
    .requiredOption("-o, --output <file>", "key file to write (mode 0600)")
    .option("--unprotected", "write the secrets in clear (default: protected by a passphrase)")
    .option("--force", "replace an existing file")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nThe passphrase comes from QCAP_KEY_PASSPHRASE, QCAP_PASSPHRASE or a prompt (never a flag).",
    )
    .action(async (o: { output: string; unprotected?: boolean; force?: boolean; json?: boolean }) => {
      const info = await writeNewKey(o.output, o);
      if (o.json) printJson("keygen", info);
      else printNewKey(info);
    });
}
