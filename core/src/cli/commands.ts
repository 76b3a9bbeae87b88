/** The `qcap` commands. Each prints a short human summary, or JSON with --json. */
import picomatch from "picomatch";
import { type Capsule, type CapsuleEntry, MANIFEST_NAME } from "../capsule/capsule.js";
import { type PackInput, type PackOptions, type PackResult, pack } from "../capsule/pack.js";
import { plainChunks, rangePlainChunks } from "../capsule/read.js";
import {
  type EntryKeys,
  entryNames,
  masterEntryKeys,
  realNames,
  unlockMasterKey,
  zipNameOf,
} from "../capsule/unlock.js";
import { withEngine } from "../engine/create.js";
import { fail } from "../errors.js";
import { type ExtractItem, type ExtractTarget, extractAll } from "../node/extract.js";
import { checkFolder, concatInputs, walkFileOrDirectory, walkInputs } from "../node/inputs.js";
import { fileSink } from "../node/sink.js";
import { fileSpill } from "../node/spill-file.js";
import { type SpillSorterOptions, spillSorter } from "../node/spill-sort.js";
import { type AttestationOpts, checkAttestation, loadAttestationInputs } from "./attest.js";
import { entryInputs } from "./entry-inputs.js";
import {
  type GrantUseOpts,
  grantKeys,
  inspectJsonFile,
  printGrantParts,
  verifyGrantParts,
} from "./grant-open.js";
import { openCapsule } from "./io.js";
import { jsonDocument, recipientList } from "./json.js";
import { loadIdentities, loadRecipients, loadSigningKey, loadTrusted } from "./keys.js";
import { plural, print, printJson, refuseToOverwrite, warn } from "./output.js";
import { readPassphrase } from "./passphrase.js";
import { progress, showsProgress } from "./progress.js";
import { TerminalTextCheck } from "./terminal-text.js";
import { openTrusted, pinnedText, resigning, type TrustOpts } from "./trust.js";

export interface KeyOpts extends GrantUseOpts {
  identity?: string[];
  passphrase?: boolean;
}

/** The real name of entry `e`, or undefined when it is not to be read (not granted). */
type RealName = (e: CapsuleEntry) => string | undefined;

/**
 * Keys for a sealed capsule from a grant (--cap), --identity files and/or --passphrase, or the
 * default key of `qcap init`; none for an unsealed one. `realName` names each entry as it is read:
 * from the grant's list (its entries only), or opened from the entry's sealed name with hidden
 * names of version 2, so that no list of every name is held. `forget` zeroes the names key.
 */
async function entryKeys(
  capsule: Capsule,
  o: KeyOpts,
): Promise<{ keys?: EntryKeys; realName: RealName; grant?: string; forget(): void }> {
  const same: RealName = (e) => e.name;
  const forget = () => {};
  if (o.cap !== undefined) {
    const g = await grantKeys(capsule, { ...o, cap: o.cap });
    return { keys: g.keys, realName: (e) => g.names.get(e.name), grant: g.checked.id, forget };
  }
  if (o.revocations !== undefined) fail("usage", "--revocations applies to grants: give --cap FILE");
  if (!capsule.sealed) return { realName: same, forget };
  const master = await masterKeyOf(capsule, o);
  const keys = masterEntryKeys(capsule, master);
  if (capsule.hiddenNames && capsule.version !== 2) {
    const names = await realNames(capsule, master);
    return { keys, realName: (e) => names.get(e.name) ?? e.name, forget };
  }
  const names = entryNames(capsule, master);
  return { keys, realName: names.realName, forget: names.forget };
}

/** The capsule's master key, from the identities or passphrase the options give. */
async function masterKeyOf(capsule: Capsule, o: KeyOpts): Promise<Uint8Array> {
  if (!o.passphrase && (o.identity ?? []).length === 0) {
    const stanzas = capsule.manifest.seal?.recipients ?? [];
    if (stanzas.length > 0 && stanzas.every((r) => r.type === "argon2id"))
      fail("usage", "this capsule is sealed with a passphrase: give --passphrase");
  }
  const identities = await loadIdentities(o.identity ?? [], !o.passphrase);
  const passphrase = o.passphrase ? await readPassphrase("Passphrase: ") : undefined;
  return unlockMasterKey(capsule, { identities, ...(passphrase !== undefined ? { passphrase } : {}) });
}

/**
 * Keys for reading one payload entry, and its ZIP name: from a grant, or with the master key. With
 * hidden names of version 2 the ZIP name is derived from the real one: no list of names is read.
 */
async function oneEntryKeys(
  capsule: Capsule,
  o: KeyOpts,
  wanted: string,
): Promise<{ keys?: EntryKeys; entry: string }> {
  if (o.cap !== undefined) {
    const g = await grantKeys(capsule, { ...o, cap: o.cap });
    const entry = [...g.names].find(([, real]) => real === wanted)?.[0] ?? wanted;
    return { keys: g.keys, entry };
  }
  if (capsule.version === 1 && capsule.hiddenNames) {
    const master = await masterKeyOf(capsule, o);
    const names = await realNames(capsule, master);
    const entry = [...names].find(([, real]) => real === wanted)?.[0] ?? wanted;
    return { keys: masterEntryKeys(capsule, master), entry };
  }
  if (o.revocations !== undefined) fail("usage", "--revocations applies to grants: give --cap FILE");
  if (!capsule.sealed) return { entry: wanted };
  const master = await masterKeyOf(capsule, o);
  return { keys: masterEntryKeys(capsule, master), entry: zipNameOf(capsule, wanted, master) ?? wanted };
}

// ---- pack and seal --------------------------------------------------------------------------

interface SealOpts {
  output: string;
  /** Default: the key of `qcap init`. */
  signKey?: string;
  recipient?: string[];
  passphrase?: boolean;
  hideNames?: boolean;
  force?: boolean;
  json?: boolean;
  /** Extra members of the --json summary. */
  report?: Record<string, unknown>;
}

async function packTo(
  command: "pack" | "seal",
  inputs: PackInput[] | AsyncIterable<PackInput>,
  o: SealOpts,
  reopen?: SpillSorterOptions["reopen"],
): Promise<PackResult> {
  const signingKey = await loadSigningKey(o.signKey);
  const recipients = await loadRecipients(o.recipient ?? []);
  const passphrase = o.passphrase ? await readPassphrase("Passphrase for the capsule: ", true) : undefined;
  // The inputs are read a first time only when their total is shown: nothing of a walk is held.
  let total = 0;
  if (showsProgress(!o.json)) for await (const i of inputs) total += i.size;
  const bar = progress(`packing ${o.output}`, total, !o.json);
  const result = await withEngine(async (engine) => {
    const options: PackOptions = {
      signingKey,
      recipients,
      ...(passphrase !== undefined ? { passphrase } : {}),
      hideNames: o.hideNames ?? false,
      // Hidden names are ordered by their hashes in runs spilled to a temporary file.
      nameSorter: spillSorter(reopen ? { reopen } : {}),
      onProgress: (n) => bar.add(n),
      engine,
      directorySpill: () => fileSpill(),
    };
    // The sink last: from its creation on, pack owns it and removes its file on any failure.
    return pack(inputs, await fileSink(o.output, { replace: o.force ?? false }), options);
  });
  bar.done();
  const summary = {
    capsule: o.output,
    root: result.manifest.root,
    issuer: result.manifest.issuer,
    sealed: result.manifest.seal !== null,
    recipients: recipientList(result.manifest.seal?.recipients ?? []),
    entryCount: result.manifest.entries,
    bytes: result.size,
    ...o.report,
  };
  if (o.json) printJson(command, summary);
  else {
    print(
      `wrote ${o.output}: ${plural(summary.entryCount, "entry", "entries")}, ${plural(summary.bytes, "byte")}, ${summary.sealed ? "sealed" : "not sealed"}`,
    );
    print(`root ${summary.root}`);
  }
  return result;
}

export async function packCommand(dir: string, o: SealOpts & { meta?: string; unsealed?: boolean }) {
  const sealed = (o.recipient ?? []).length > 0 || o.passphrase === true;
  if (o.unsealed && sealed) fail("usage", "--unsealed cannot be combined with --recipient or --passphrase");
  await refuseToOverwrite(o.output, o.force);
  // Streamed in index order: meta/ sorts before payload/. The folder is checked before anything else.
  await checkFolder(dir);
  const payload = walkInputs(dir, "payload/");
  const inputs = o.meta ? concatInputs(walkFileOrDirectory(o.meta, "meta/"), payload) : payload;
  await packTo("pack", inputs, o);
  // After success: a failed run prints its one error line only.
  if (!sealed && !o.unsealed)
    warn(
      `${o.output} is not sealed: anyone who gets it can read the payload (give --recipient or --passphrase, or --unsealed to mean it)`,
    );
}

export async function sealCommand(input: string, o: SealOpts & { trust?: string[] }) {
  if ((o.recipient ?? []).length === 0 && !o.passphrase)
    fail("usage", "seal needs --recipient or --passphrase");
  await refuseToOverwrite(o.output, o.force);
  const capsule = await openCapsule(input, { trust: await loadTrusted(o.trust ?? []) });
  try {
    if (capsule.sealed) fail("usage", `${input} is already sealed`);
    const resigned = resigning(capsule, (await loadSigningKey(o.signKey)).publicKey);
    const source = await entryInputs(capsule);
    try {
      await packTo("seal", source.inputs, resigned ? { ...o, report: { resigned } } : o, source.reopen);
    } finally {
      source.close();
    }
  } finally {
    await capsule.source.close();
  }
}

// ---- verify and inspect ---------------------------------------------------------------------

export async function verifyCommand(
  location: string,
  o: TrustOpts & {
    json?: boolean;
    cap?: string;
    capIdentity?: string[];
    revocations?: string;
    purpose?: string;
  } & AttestationOpts,
) {
  const trust = await loadTrusted(o.trust ?? []);
  const attestationInputs = await loadAttestationInputs(o);
  const { capsule, signer } = await openTrusted(location, o);
  try {
    // Sizes only, for the progress bar (when one is shown): the pages are read again by verifyAll.
    let total = 0;
    if (showsProgress(!o.json)) for await (const e of capsule.entries()) total += e.stored;
    const bar = progress(`verifying ${location}`, total, !o.json);
    await withEngine((engine) => capsule.verifyAll((n) => bar.add(n), engine));
    bar.done();
    const attestation = attestationInputs
      ? await checkAttestation(attestationInputs, capsule, trust)
      : undefined;
    const grantParts = await verifyGrantParts(capsule, {
      ...(o.cap !== undefined ? { cap: o.cap } : {}),
      ...(o.capIdentity !== undefined ? { identity: o.capIdentity } : {}),
      ...(o.revocations !== undefined ? { revocations: o.revocations } : {}),
      ...(o.purpose !== undefined ? { purpose: o.purpose } : {}),
    });
    const result = {
      capsule: location,
      root: capsule.manifest.root,
      issuer: capsule.manifest.issuer,
      issuerTrusted: signer.pinned !== null,
      signer,
      sealed: capsule.sealed,
      entryCount: capsule.manifest.entries,
      bytes: capsule.source.size,
      ...(attestation ? { attestation } : {}),
      ...grantParts,
    };
    if (o.json) return printJson("verify", result);
    print(`OK ${location}: signature and ${plural(result.entryCount, "entry", "entries")} verified`);
    print(`root   ${result.root}`);
    print(`issuer ${result.issuer} (fingerprint ${signer.fingerprint}, ${pinnedText(signer)})`);
    if (attestation?.mode === "keyless")
      print(
        `attestation OK: ${attestation.identity} (issuer ${attestation.issuer}), sha256 ${attestation.sha256}`,
      );
    else if (attestation)
      print(`attestation OK: signed by key ${attestation.publicKey}, sha256 ${attestation.sha256}`);
    printGrantParts(grantParts);
  } finally {
    await capsule.source.close();
  }
}

export async function inspectCommand(location: string, o: { json?: boolean }) {
  if (await inspectJsonFile(location, o)) return;
  const capsule = await openCapsule(location);
  try {
    const s = await capsule.summary();
    if (o.json)
      return printJson("inspect", {
        kind: "capsule",
        capsule: location,
        format: s.format,
        issuer: s.issuer,
        root: s.root,
        sealed: s.sealed,
        hiddenNames: s.hiddenNames,
        recipients: recipientList(s.recipients),
        entryCount: s.entries.length,
        entries: s.entries.map((e) => ({ name: e.name, bytes: e.size, mode: e.mode })),
        bytes: s.size,
      });
    print(`capsule  ${location} (format ${s.format}, ${plural(s.size, "byte")})`);
    print(`issuer   ${s.issuer}`);
    print(`root     ${s.root}`);
    print(`sealed   ${s.sealed ? `yes${s.hiddenNames ? ", names hidden" : ""}` : "no"}`);
    for (const r of s.recipients) print(`recipient ${r.type}${"kid" in r ? ` ${r.kid}` : ""}`);
    print(`entries  ${s.entries.length}`);
    for (const e of s.entries)
      print(`  ${e.mode === 0o755 ? "x" : "-"} ${String(e.size).padStart(12)}  ${e.name}`);
    print(`(${MANIFEST_NAME} signature verified; run 'qcap verify' to check the data)`);
  } finally {
    await capsule.source.close();
  }
}

// ---- cat and open ---------------------------------------------------------------------------

/** `dem/a.tif` means `payload/dem/a.tif`; `meta/…` and `payload/…` are taken as they are. */
function entryNameOf(path: string): string {
  return path.startsWith("payload/") || path.startsWith("meta/") ? path : `payload/${path}`;
}

export async function catCommand(
  location: string,
  path: string,
  o: KeyOpts & TrustOpts & { offset?: string; length?: string; output?: string; force?: boolean },
) {
  if (o.output !== undefined && o.output !== "-") await refuseToOverwrite(o.output, o.force);
  const { capsule, report } = await openTrusted(location, o);
  try {
    const wanted = entryNameOf(path);
    // meta/ is never encrypted (SPEC §2): it is read without any key.
    const { keys, entry } = wanted.startsWith("meta/")
      ? { keys: undefined, entry: wanted }
      : await oneEntryKeys(capsule, o, wanted);
    const e = await capsule.entry(entry);
    const chunks =
      o.offset === undefined && o.length === undefined
        ? plainChunks(capsule, entry, keys)
        : rangeOf(capsule, entry, e.size, o, keys);
    if (o.output !== undefined && o.output !== "-") {
      const sink = await fileSink(o.output, { replace: o.force ?? false });
      try {
        for await (const b of chunks) await sink.write(b);
        await sink.close();
      } catch (err) {
        await sink.abort();
        throw err;
      }
      return report();
    }
    // A terminal gets text only, unless `-o -` asks for the bytes as they are.
    const check = o.output === undefined && process.stdout.isTTY ? new TerminalTextCheck() : undefined;
    for await (const b of chunks) {
      if (check && !check.push(b)) fail("usage", BINARY_TO_TERMINAL);
      await writeStdout(b);
    }
    if (check && !check.end()) fail("usage", BINARY_TO_TERMINAL);
    report();
  } finally {
    await capsule.source.close();
  }
}

const writeText = (s: string) => writeStdout(Buffer.from(s));

/** A JSON array of the items' paths, indented as a member of a printJson document. */
async function writePaths(items: AsyncIterable<ExtractItem>): Promise<void> {
  let out = "";
  let first = true;
  for await (const i of items) {
    out += `${first ? "[" : ","}\n    ${JSON.stringify(i.path)}`;
    first = false;
    if (out.length >= 1 << 16) {
      await writeText(out);
      out = "";
    }
  }
  await writeText(first ? "[]" : `${out}\n  ]`);
}

const BINARY_TO_TERMINAL =
  "refusing to write binary data to a terminal: redirect it, or give -o FILE (or -o - to force it)";

const writeStdout = (b: Uint8Array) =>
  new Promise<void>((resolve, reject) => process.stdout.write(b, (err) => (err ? reject(err) : resolve())));

function rangeOf(
  capsule: Capsule,
  entry: string,
  size: number,
  o: { offset?: string; length?: string },
  keys?: EntryKeys,
): AsyncGenerator<Uint8Array> {
  const offset = parseCount(o.offset ?? "0", "--offset");
  const length = o.length === undefined ? size - offset : parseCount(o.length, "--length");
  return rangePlainChunks(capsule, entry, offset, length, keys);
}

function parseCount(s: string, flag: string): number {
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s)))
    fail("usage", `${flag} must be a non-negative integer`);
  return Number(s);
}

export async function openCommand(
  location: string,
  o: KeyOpts & {
    output?: string;
    path?: string[];
    force?: boolean;
    metaOut?: string;
    json?: boolean;
  } & TrustOpts,
) {
  const { capsule, signer, report } = await openTrusted(location, o);
  let forgetNames: (() => void) | undefined;
  try {
    if (o.output === undefined && o.metaOut === undefined)
      fail("usage", "give -o DIR for the payload, --meta-out DIR for meta/, or both");
    // meta/ alone is public: no key is needed (nor asked for) to write it.
    const { keys, realName, grant, forget } =
      o.output === undefined ? { realName: () => undefined, forget: () => {} } : await entryKeys(capsule, o);
    forgetNames = forget;
    const globs = o.path ?? [];
    const match = globs.length > 0 ? picomatch(globs, { dot: true }) : () => true;
    // The items are read from the index on each pass, never held: a capsule may have millions.
    const reread = (pick: (e: CapsuleEntry) => ExtractItem | null): AsyncIterable<ExtractItem> => ({
      async *[Symbol.asyncIterator]() {
        for await (const e of capsule.entries()) {
          const item = pick(e);
          if (item) yield item;
        }
      },
    });
    const items = reread((e) => {
      if (!e.name.startsWith("payload/")) return null;
      const real = realName(e);
      if (real === undefined) return null; // not granted
      const rel = real.slice("payload/".length);
      return match(rel) ? { entry: e.name, path: rel, mode: e.mode, size: e.size, found: e } : null;
    });
    const metaItems = reread((e) =>
      o.metaOut && e.name.startsWith("meta/")
        ? { entry: e.name, path: e.name.slice("meta/".length), mode: e.mode, size: e.size, found: e }
        : null,
    );
    // Counted while staging, which reads every item anyway; up front only when needed before
    // writing (to refuse an empty match, or for the progress bar's total).
    const counted = { payload: 0, meta: 0 };
    const counting = (from: AsyncIterable<ExtractItem>, kind: "payload" | "meta") => ({
      async *[Symbol.asyncIterator]() {
        counted[kind] = 0;
        for await (const i of from) {
          counted[kind]++;
          yield i;
        }
      },
    });
    let total = 0;
    if (globs.length > 0 || showsProgress(!o.json)) {
      for await (const i of counting(items, "payload")) total += i.size ?? 0;
      if (globs.length > 0 && counted.payload === 0)
        fail("usage", `no payload file matches ${globs.join(", ")}`);
    }
    const bar = progress(`opening ${location}`, total, !o.json);
    await withEngine((engine) => {
      // Payload and meta/ are staged together: nothing is moved into either until both verified.
      const targets: ExtractTarget[] =
        o.output === undefined ? [] : [{ items: counting(items, "payload"), outDir: o.output }];
      if (o.metaOut) targets.push({ items: counting(metaItems, "meta"), outDir: o.metaOut });
      return extractAll(capsule, targets, {
        ...(keys ? { keys } : {}),
        force: o.force ?? false,
        onProgress: (n) => bar.add(n),
        engine,
      });
    });
    bar.done();
    report();
    const LIST = "\u0000paths\u0000";
    const result = {
      output: o.output ?? null,
      files: LIST,
      ...(o.metaOut !== undefined ? { metaOut: o.metaOut, metaFiles: LIST } : {}),
      root: capsule.manifest.root,
      signer,
      ...(grant ? { grantId: grant } : {}),
    };
    if (o.json) {
      // The document of printJson, its path lists written a piece at a time from the index.
      const doc = JSON.stringify(jsonDocument("open", result), null, 2);
      const parts = doc.split(JSON.stringify(LIST));
      await writeText(parts[0] as string);
      await writePaths(items);
      if (o.metaOut !== undefined) {
        await writeText(parts[1] as string);
        await writePaths(metaItems);
      }
      return writeText(`${parts[parts.length - 1]}\n`);
    }
    const into = [
      ...(o.output !== undefined ? [`${plural(counted.payload, "file")} into ${o.output}`] : []),
      ...(o.metaOut !== undefined ? [`${plural(counted.meta, "meta/ file")} into ${o.metaOut}`] : []),
    ].join(" and ");
    print(`opened ${into} (root ${capsule.manifest.root})${grant ? ` with grant ${grant}` : ""}`);
  } finally {
    forgetNames?.();
    await capsule.source.close();
  }
}
