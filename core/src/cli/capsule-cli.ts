/**
 * Options of the capsule commands (pack, seal, verify, inspect, cat, open). Their code, in
 * commands.ts, is imported only when one of them runs, so listing them costs no start-up time.
 */
import type { Command } from "commander";

const collect = (v: string, prev: string[] = []) => [...prev, v];
const commands = () => import("./commands.js");

const sealing = (c: Command) =>
  c
    .requiredOption("-o, --output <file>", "capsule to write")
    .option(
      "--sign-key <file>",
      "Ed25519 signing key: Q-Cap key file, PKCS#8 PEM or hex seed file (default: qcap init's key)",
    )
    .option("-r, --recipient <age1…|file>", "seal to this X25519 recipient (repeatable)", collect)
    .option("--passphrase", "seal to a passphrase (from QCAP_PASSPHRASE or a prompt)")
    .option("--hide-names", "hide payload file names (sealed capsules only)")
    .option("--force", "replace an existing output file")
    .option("--json", "machine-readable output (docs/cli-json.md)");

const keys = (c: Command) =>
  c
    .option(
      "-i, --identity <file>",
      "X25519 identity: age identity file or Q-Cap key file (repeatable)",
      collect,
    )
    .option("--passphrase", "open with the passphrase (from QCAP_PASSPHRASE or a prompt)")
    .option("--trust <key>", "require this issuer key (repeatable)", collect)
    .option("--require-trust", "refuse a signer pinned neither by --trust nor the trust store")
    .option("--cap <grant>", "open with a grant (cap.json): only the paths it allows")
    .option("--revocations <file|url>", "refuse a revoked grant (the issuer's signed revocation list)")
    .option("--purpose <word>", "the purpose you use the grant for, when it names one");

export function registerPack(p: Command): void {
  sealing(
    p
      .command("pack")
      .description("pack a folder into a signed capsule; sealed when a recipient or passphrase is given")
      .argument("<dir>", "folder whose files become payload/"),
  )
    .option("--meta <dir|file>", "folder or file of public metadata stored under meta/ (e.g. STAC)")
    .option("--unsealed", "pack without recipients on purpose: no warning that anyone can read it")
    .action(async (dir, o) => (await commands()).packCommand(dir, o));
}

export function registerSeal(p: Command): void {
  sealing(
    p
      .command("seal")
      .description("seal an unsealed capsule to recipients")
      .argument("<capsule>", "unsealed capsule"),
  )
    .option("--trust <key>", "require the input to be signed by this key (repeatable)", collect)
    .action(async (input, o) => (await commands()).sealCommand(input, o));
}

export function registerVerify(p: Command): void {
  p.command("verify")
    .description("check the signature and every byte of a capsule (file or http(s) URL)")
    .argument("<capsule>", "path or URL")
    .option("--trust <key>", "require this issuer key: hex, PEM or key file (repeatable)", collect)
    .option("--require-trust", "refuse a signer pinned neither by --trust nor the trust store")
    .option("--attestation <bundle>", "also verify this sigstore attestation bundle of the capsule")
    .option("--trusted-root <file>", "sigstore TrustedRoot JSON for keyless attestations (offline)")
    .option("--identity <uri>", "expected certificate identity of a keyless attestation (exact)")
    .option("--issuer <url>", "expected OIDC issuer of a keyless attestation (exact)")
    .option("--cap <grant>", "also check this grant as open does: signature, caveats, expiry, chain, keys")
    .option(
      "-i, --cap-identity <file>",
      "the grant audience's X25519 identity, to open its keys (repeatable)",
      collect,
    )
    .option(
      "--revocations <file|url>",
      "check the issuer's signed revocation list (and the grant against it)",
    )
    .option("--purpose <word>", "the purpose the grant is used for, when it names one")
    .option("--json", "machine-readable output (docs/cli-json.md)")
    .action(async (c, o) => (await commands()).verifyCommand(c, o));
}

export function registerInspect(p: Command): void {
  p.command("inspect")
    .description("show a capsule's signed manifest, or a grant (cap.json) or revocation list without secrets")
    .argument("<capsule>", "capsule path or URL, grant file or revocation list")
    .option("--json", "machine-readable output (docs/cli-json.md)")
    .action(async (c, o) => (await commands()).inspectCommand(c, o));
}

export function registerCat(p: Command): void {
  keys(
    p
      .command("cat")
      .description("write one verified file, or a byte range of it, to stdout")
      .argument("<capsule>", "path or URL (read with range requests)")
      .argument("<path>", "file path inside payload/ (or a meta/… name)"),
  )
    .option("--offset <n>", "first byte to write")
    .option("--length <n>", "number of bytes to write")
    .option(
      "-o, --output <file>",
      "write to this file instead of stdout ('-': stdout, even binary to a terminal)",
    )
    .option("--force", "replace an existing output file")
    .action(async (c, path, o) => (await commands()).catCommand(c, path, o));
}

export function registerOpen(p: Command): void {
  keys(
    p
      .command("open")
      .description("verify and extract a capsule into a folder")
      .argument("<capsule>", "path or URL"),
  )
    .option("-o, --output <dir>", "folder to write the payload into (optional with --meta-out)")
    .option("--path <glob>", "extract only payload paths matching this glob (repeatable)", collect)
    .option("--meta-out <dir>", "also write the meta/ files into this folder")
    .option("--force", "replace existing files")
    .option("--json", "machine-readable output (docs/cli-json.md)")
    .action(async (c, o) => (await commands()).openCommand(c, o));
}
