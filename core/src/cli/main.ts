#!/usr/bin/env node
/**
 * The `qcap` command line. Exit codes: 0 success, 1 failed check, 2 usage or input error (file
 * system errors included), 130/143 interrupted.
 */
import { Command, CommanderError } from "commander";
import { fail, QcapError } from "../errors.js";
import { removeTempsNow } from "../io/temp-files-node.js";
import { registerAttenuate } from "./attenuate.js";
import * as cmd from "./commands.js";
import { registerCompletion } from "./completion.js";
import { escapeText } from "./escape.js";
import { registerFetch } from "./fetch.js";
import { fsErrorMessage } from "./fs-errors.js";
import { registerGrant } from "./grant.js";
import { registerInit } from "./init.js";
import { registerKeygen } from "./keygen.js";
import { registerLs } from "./ls.js";
import { registerPubkey } from "./pubkey.js";
import { registerPublish } from "./publish.js";
import { registerRecipients } from "./recipients.js";
import { registerRevoke } from "./revoke.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

function program(): Command {
  const p = new Command("qcap")
    .description("Pack, seal, sign, verify and open .qcap capsules")
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`qcap: ${s.replace(/^error: /, "")}`) });

  registerKeygen(p);
  registerInit(p);
  registerPubkey(p);

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
      .option("--json", "machine-readable output");

  sealing(
    p
      .command("pack")
      .description("pack a folder into a signed capsule; sealed when a recipient or passphrase is given")
      .argument("<dir>", "folder whose files become payload/"),
  )
    .option("--meta <dir|file>", "folder or file of public metadata stored under meta/ (e.g. STAC)")
    .option("--unsealed", "pack without recipients on purpose: no warning that anyone can read it")
    .action((dir, o) => cmd.packCommand(dir, o));

  sealing(
    p
      .command("seal")
      .description("seal an unsealed capsule to recipients")
      .argument("<capsule>", "unsealed capsule"),
  )
    .option("--trust <key>", "require the input to be signed by this key (repeatable)", collect)
    .action((input, o) => cmd.sealCommand(input, o));

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
    .option("--json", "machine-readable output")
    .action((c, o) => cmd.verifyCommand(c, o));

  p.command("inspect")
    .description("show a capsule's signed manifest, or a grant (cap.json) or revocation list without secrets")
    .argument("<capsule>", "capsule path or URL, grant file or revocation list")
    .option("--json", "machine-readable output")
    .action((c, o) => cmd.inspectCommand(c, o));

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
    .action((c, path, o) => cmd.catCommand(c, path, o));

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
    .option("--json", "machine-readable output")
    .action((c, o) => cmd.openCommand(c, o));

  registerGrant(p);
  registerAttenuate(p);
  registerRevoke(p);
  registerRecipients(p);
  registerPublish(p);
  registerFetch(p);
  registerLs(p);
  registerCompletion(p);

  for (const c of p.commands)
    c.exitOverride().configureOutput({
      outputError: (s, write) => write(`qcap: ${s.replace(/^error: /, "")}`),
    });
  return p;
}

/** Exit codes of a run stopped by a signal (128 + its number, as shells report them). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * An interrupted run leaves nothing behind: temporary capsules and staging folders (which may hold
 * decrypted data) are removed before exiting.
 */
function removeTempsOnSignals(): void {
  for (const [signal, code] of Object.entries(SIGNAL_EXIT)) {
    process.once(signal, () => {
      removeTempsNow();
      process.stderr.write(`qcap: interrupted (${signal})\n`);
      process.exit(code);
    });
  }
}

/**
 * Options of the original prototype: `--out` is taken as `--output`; `--key` was ambiguous (signing
 * or opening), so it is refused with both names. Only options before `--` are looked at.
 */
function legacyOptions(argv: string[]): string[] {
  const end = argv.indexOf("--");
  const head = end === -1 ? argv : argv.slice(0, end);
  const tail = end === -1 ? [] : argv.slice(end);
  for (const a of head)
    if (a === "--key" || a.startsWith("--key="))
      fail("usage", "unknown option '--key' (did you mean --sign-key or --identity?)");
  return [...head.map((a) => (a === "--out" ? "--output" : a.replace(/^--out=/, "--output="))), ...tail];
}

export async function main(argv: string[]): Promise<number> {
  removeTempsOnSignals();
  // `qcap inspect … | head`: a reader that stops early is not an error (and never a stack trace).
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    process.stderr.write(`qcap: cannot write to stdout: ${e.code ?? e.message}\n`);
    process.exit(1);
  });
  try {
    await program().parseAsync(legacyOptions(argv), { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === "commander.helpDisplayed" ||
        e.code === "commander.version" ||
        e.code === "commander.help"
        ? 0
        : 2;
    }
    if (e instanceof QcapError) {
      process.stderr.write(`qcap: ${escapeText(e.message)}\n`);
      return e.exitCode;
    }
    const err = e as NodeJS.ErrnoException;
    if (err?.code === "EPIPE") return 0;
    const fsMessage = fsErrorMessage(e);
    if (fsMessage !== undefined) {
      process.stderr.write(`qcap: ${escapeText(fsMessage)}\n`);
      return 2;
    }
    process.stderr.write(`qcap: unexpected error: ${escapeText(err?.message ?? String(e))}\n`);
    if (process.env.QCAP_DEBUG) process.stderr.write(`${err?.stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
