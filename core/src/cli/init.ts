/** `qcap init`: default key material in the user's config folder, used when a command gets no key. */
import { mkdir } from "node:fs/promises";
import type { Command } from "commander";
import { fail } from "../errors.js";
import { defaultKeyPath, qcapConfigDir } from "../node/config.js";
import { printNewKey, writeNewKey } from "./keygen.js";
import { print, printJson } from "./output.js";

export function registerInit(p: Command): void {
  p.command("init")
    .description("create the default key (signing key and identity) in the config folder")
    .option("--unprotected", "write the secrets in clear (default: protected by a passphrase)")
    .option("--force", "replace an existing default key")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nThe folder is $QCAP_CONFIG_DIR, else $XDG_CONFIG_HOME/qcap, else ~/.config/qcap. Commands use\nits key.json when no --sign-key or --identity is given.",
    )
    .action(async (o: { unprotected?: boolean; force?: boolean; json?: boolean }) => {
      const dir = qcapConfigDir();
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
      } catch (e) {
        fail("input", `cannot create ${dir}: ${(e as NodeJS.ErrnoException).code}`);
      }
      const info = await writeNewKey(defaultKeyPath(), o);
      if (o.json) return printJson("init", { ...info, configDir: dir });
      printNewKey(info);
      print(`commands now use this key when no --sign-key or --identity is given`);
    });
}
