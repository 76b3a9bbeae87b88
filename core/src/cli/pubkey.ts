/** `qcap pubkey`: the public parts of a key, as PEM (for openssl), hex or an age recipient. */
import type { Command } from "commander";
import { toHex } from "../crypto/bytes.js";
import { kid } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { encodeRecipient, parseRecipient } from "../keys/age.js";
import { parsePublicKey, publicKeyToPem } from "../keys/ed25519.js";
import { looksLikePem } from "../keys/ed25519-codec.js";
import { loadKeyMaterial } from "../keys/keyfile.js";
import { isProtectedKeyFile, keyFilePublic } from "../keys/keyfile-protected.js";
import { readText } from "./keys.js";
import { print, printJson } from "./output.js";

interface Public {
  ed25519?: Uint8Array;
  recipients: Uint8Array[];
}

/** Public keys from any key text; a protected key file needs no passphrase (its public part is clear). */
function publicOf(text: string): Public {
  const t = text.trim();
  if (t.startsWith("age1")) return { recipients: t.split(/\s+/).map(parseRecipient) };
  if (isProtectedKeyFile(text)) {
    const pub = keyFilePublic(text);
    if (pub) return { ed25519: parsePublicKey(pub.ed25519), recipients: [parseRecipient(pub.recipient)] };
  }
  if (looksLikePem(t) && t.includes("PUBLIC KEY")) return { ed25519: parsePublicKey(t), recipients: [] };
  const m = loadKeyMaterial(text);
  return { ...(m.signing ? { ed25519: m.signing.publicKey } : {}), recipients: m.recipients };
}

export function registerPubkey(p: Command): void {
  p.command("pubkey")
    .description("print the public keys of a key file: PEM (SPKI, for openssl), hex or age recipient")
    .argument("<keyfile>", "Q-Cap key file (protected or not), PKCS#8 PEM, hex seed, age identity file")
    .option("--format <format>", "pem | hex (the Ed25519 signing key) or age (the X25519 recipient)")
    .option("--json", "machine-readable output")
    .action(async (file: string, o: { format?: string; json?: boolean }) => {
      const text = file.startsWith("age1") ? file : await readText(file, "key file");
      const pub = publicOf(text);
      const need = (what: string): never => fail("input", `${file} holds no ${what}`);
      if (o.format !== undefined) {
        if (o.format === "pem") {
          process.stdout.write(publicKeyToPem(pub.ed25519 ?? need("Ed25519 key")));
        } else if (o.format === "hex") {
          print(toHex(pub.ed25519 ?? need("Ed25519 key")));
        } else if (o.format === "age") {
          if (pub.recipients.length === 0) need("X25519 identity");
          for (const r of pub.recipients) print(encodeRecipient(r));
        } else {
          fail("usage", "--format must be pem, hex or age");
        }
        return;
      }
      const info = {
        signingPublicKey: pub.ed25519 ? toHex(pub.ed25519) : null,
        signingFingerprint: pub.ed25519 ? kid(pub.ed25519) : null,
        recipients: pub.recipients.map((r) => ({
          type: "x25519",
          kid: kid(r),
          recipient: encodeRecipient(r),
        })),
      };
      if (o.json) return printJson("pubkey", info);
      if (info.signingPublicKey)
        print(`ed25519    ${info.signingPublicKey} (fingerprint ${info.signingFingerprint})`);
      for (const r of info.recipients) print(`recipient  ${r.recipient} (key id ${r.kid})`);
    });
}
