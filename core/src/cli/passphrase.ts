/** Passphrases come from QCAP_PASSPHRASE or a TTY prompt, never from a flag value. */
import { fail } from "../errors.js";

/**
 * A passphrase from the first set variable of `envNames`, else a terminal prompt. Key files look at
 * QCAP_KEY_PASSPHRASE before QCAP_PASSPHRASE, so a protected key and a passphrase capsule can differ.
 */
export async function readPassphrase(
  prompt: string,
  confirm = false,
  envNames: readonly string[] = ["QCAP_PASSPHRASE"],
): Promise<string> {
  for (const name of envNames) {
    const fromEnv = process.env[name];
    if (fromEnv === undefined) continue;
    if (fromEnv.length === 0) fail("usage", `${name} is empty`);
    return fromEnv;
  }
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    return fail("usage", `a passphrase is needed: set ${envNames.join(" or ")} or run in a terminal`);
  }
  const first = await promptHidden(prompt);
  if (first.length === 0) fail("usage", "empty passphrase");
  if (confirm && (await promptHidden("Confirm passphrase: ")) !== first)
    fail("usage", "passphrases do not match");
  return first;
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = "";
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          cleanup();
          process.stderr.write("\n");
          resolve(value);
          return;
        }
        if (ch === "\u0003") {
          cleanup();
          process.stderr.write("\n");
          reject(new Error("interrupted"));
          return;
        }
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    const cleanup = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
    };
    stdin.on("data", onData);
  });
}
