#!/usr/bin/env node
/**
 * The `qcap` command line. Exit codes: 0 success, 1 failed check, 2 usage or input error (file
 * system errors included), 130/143 interrupted. With --json, a failure also prints an error document
 * on stdout (docs/cli-json.md).
 *
 * Start-up: only the command that runs is loaded (its options, then its code when it acts); help,
 * completion and unknown words load them all. `--version` loads neither commander nor any command.
 */
import type { Command } from "commander";
import { type ErrorKind, fail, QcapError } from "../errors.js";
import { removeTempsNow } from "../node/temp-files.js";
import { errorDocument, wantsJson } from "./json.js";

type Register = (p: Command) => void;

/** One registration per command, in the order help lists them; each loads its module on demand. */
const COMMANDS: Record<string, () => Promise<Register>> = {
  keygen: async () => (await import("./keygen.js")).registerKeygen,
  init: async () => (await import("./init.js")).registerInit,
  pubkey: async () => (await import("./pubkey.js")).registerPubkey,
  pack: async () => (await import("./capsule-cli.js")).registerPack,
  seal: async () => (await import("./capsule-cli.js")).registerSeal,
  verify: async () => (await import("./capsule-cli.js")).registerVerify,
  inspect: async () => (await import("./capsule-cli.js")).registerInspect,
  cat: async () => (await import("./capsule-cli.js")).registerCat,
  open: async () => (await import("./capsule-cli.js")).registerOpen,
  grant: async () => (await import("./grant.js")).registerGrant,
  attenuate: async () => (await import("./attenuate.js")).registerAttenuate,
  revoke: async () => (await import("./revoke.js")).registerRevoke,
  recipients: async () => (await import("./recipients.js")).registerRecipients,
  publish: async () => (await import("./publish.js")).registerPublish,
  fetch: async () => (await import("./fetch.js")).registerFetch,
  ls: async () => (await import("./ls.js")).registerLs,
  completion: async () => (await import("./completion.js")).registerCompletion,
};

/** Commands that need every other one registered (completion lists them all). */
const NEEDS_ALL = new Set(["completion"]);

/** The commands to register for `args`: the one named (also by `help NAME`), else all of them. */
function commandsFor(args: readonly string[]): string[] {
  const words = args.filter((a) => !a.startsWith("-"));
  const name = words[0] === "help" ? words[1] : words[0];
  if (words[0] === "help" && name !== undefined && !Object.hasOwn(COMMANDS, name))
    fail("usage", `unknown command '${name}' (qcap --help lists them)`);
  return name !== undefined && Object.hasOwn(COMMANDS, name) && !NEEDS_ALL.has(name)
    ? [name]
    : Object.keys(COMMANDS);
}

/** A parser error as one line, with the hint on it rather than on a second line. */
const reportError = (s: string, write: (s: string) => void) =>
  write(`qcap: ${s.replace(/^error: /, "").trimEnd()} (run with --help for usage)\n`);

async function program(names: readonly string[]): Promise<Command> {
  const { Command } = await import("commander");
  const p = new Command("qcap")
    .description("Pack, seal, sign, verify and open .qcap capsules")
    .option("-V, --version", "print the version, the engines in use and the capsule format versions")
    .addHelpText("after", "\nRun 'qcap help COMMAND' for a command's options. JSON output: docs/cli-json.md.")
    .exitOverride()
    .configureOutput({ outputError: reportError });
  const registers = await Promise.all(names.map((n) => (COMMANDS[n] as () => Promise<Register>)()));
  for (const register of registers) register(p);
  for (const c of p.commands) c.exitOverride().configureOutput({ outputError: reportError });
  return p;
}

/** Exit codes of a run stopped by a signal (128 + its number, as shells report them). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * An interrupted run leaves nothing behind: temporary capsules and staging folders (which may hold
 * decrypted data) are removed before exiting.
 */
function removeTempsOnSignals(json: boolean): void {
  for (const [signal, code] of Object.entries(SIGNAL_EXIT)) {
    process.once(signal, () => {
      removeTempsNow();
      process.stderr.write(`qcap: interrupted (${signal})\n`);
      if (json) printError(code, "interrupted", `interrupted (${signal})`);
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

function printError(code: number, kind: ErrorKind | "interrupted" | "internal", message: string): void {
  process.stdout.write(`${JSON.stringify(errorDocument(code, kind, message), null, 2)}\n`);
}

/** Errors of commander (unknown option, missing argument, help shown), told apart without loading it. */
function commanderCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("commander.") ? code : undefined;
}

/**
 * Reports a failure (stderr line, and the error document with --json); returns the exit code. Its
 * helpers are loaded here, on the way out, to keep them from every start.
 */
async function failure(e: unknown, json: boolean): Promise<number> {
  const [{ escapeText }, { fsErrorMessage }] = await Promise.all([
    import("./escape.js"),
    import("./fs-errors.js"),
  ]);
  const commander = commanderCode(e);
  if (commander !== undefined) {
    if (["commander.helpDisplayed", "commander.version", "commander.help"].includes(commander)) return 0;
    // commander has written its line already.
    if (json) printError(2, "usage", String((e as Error).message).replace(/^error: /, ""));
    return 2;
  }
  if (e instanceof QcapError) {
    process.stderr.write(`qcap: ${escapeText(e.message)}\n`);
    if (json) printError(e.exitCode, e.kind, e.message);
    return e.exitCode;
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === "EPIPE") return 0;
  const fsMessage = fsErrorMessage(e);
  if (fsMessage !== undefined) {
    process.stderr.write(`qcap: ${escapeText(fsMessage)}\n`);
    if (json) printError(2, "input", fsMessage);
    return 2;
  }
  const message = `unexpected error: ${err?.message ?? String(e)}`;
  process.stderr.write(`qcap: ${escapeText(message)}\n`);
  if (process.env.QCAP_DEBUG) process.stderr.write(`${err?.stack}\n`);
  if (json) printError(1, "internal", message);
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  const json = wantsJson(argv);
  removeTempsOnSignals(json);
  // `qcap inspect … | head`: a reader that stops early is not an error (and never a stack trace).
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    process.stderr.write(`qcap: cannot write to stdout: ${e.code ?? e.message}\n`);
    process.exit(1);
  });
  try {
    const args = legacyOptions(argv);
    const versionWords = new Set(["--version", "-V", "--json"]);
    if (args.some((a) => a !== "--json") && args.every((a) => versionWords.has(a))) {
      await (await import("./version.js")).printVersion(json);
      return 0;
    }
    await (await program(commandsFor(args))).parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    return await failure(e, json);
  }
}

process.exitCode = await main(process.argv.slice(2));
