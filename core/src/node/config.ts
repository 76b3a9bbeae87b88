/** Where `qcap init` keeps the default key, and how commands find it (Node only). */
import { homedir } from "node:os";
import { join } from "node:path";

/** `$QCAP_CONFIG_DIR`, else `$XDG_CONFIG_HOME/qcap`, else `~/.config/qcap`. */
export function qcapConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.QCAP_CONFIG_DIR) return env.QCAP_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "qcap");
  return join(homedir(), ".config", "qcap");
}

/** The default key file: a Q-Cap key file (signing key and identity) written by `qcap init`. */
export const defaultKeyPath = (env: NodeJS.ProcessEnv = process.env): string =>
  join(qcapConfigDir(env), "key.json");
