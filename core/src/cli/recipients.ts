/**
 * `qcap recipients`: add or remove recipients by re-wrapping the master key and re-signing the
 * manifest. The capsule is packed again under the same master key and capsule id, so the entries'
 * stored bytes, the pages and the root stay the same; only the manifest, its signature and the
 * central directory change. `--rotate` re-encrypts under a new master key instead.
 */
import type { Command } from "commander";
import { Capsule } from "../capsule/capsule.js";
import { alreadySorted } from "../capsule/name-order.js";
import { pack } from "../capsule/pack.js";
import { masterEntryKeys, unlockMasterKey } from "../capsule/unlock.js";
import { fromHex, toHex } from "../crypto/bytes.js";
import { kid, MAX_RECIPIENTS, type Stanza, wrapToX25519 } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { fileSink } from "../node/sink.js";
import { fileSource } from "../node/source.js";
import { fileSpill } from "../node/spill-file.js";
import { spillSorter } from "../node/spill-sort.js";
import { entryInputs } from "./entry-inputs.js";
import { openCapsule } from "./io.js";
import { recipientList } from "./json.js";
import { loadIdentities, loadMaterial, loadRecipients, loadSigningKey, loadTrusted } from "./keys.js";
import { plural, print, printJson, refuseToOverwrite, warn } from "./output.js";
import { readPassphrase } from "./passphrase.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];
const PASSPHRASE = "passphrase";

interface RecipientsOpts {
  add?: string[];
  remove?: string[];
  identity?: string[];
  passphrase?: boolean;
  signKey?: string;
  trust?: string[];
  output: string;
  rotate?: boolean;
  force?: boolean;
  json?: boolean;
}

async function signingKeyOf(o: RecipientsOpts) {
  if (o.signKey !== undefined) return loadSigningKey(o.signKey);
  const ids = o.identity ?? [];
  if (ids.length === 1) {
    const m = await loadMaterial(ids[0] as string, "identity");
    if (m.signing) return m.signing;
  }
  return loadSigningKey(undefined);
}

async function recipientsCommand(location: string, o: RecipientsOpts): Promise<void> {
  const removeArgs = o.remove ?? [];
  const removePass = removeArgs.includes(PASSPHRASE);
  const removeKids = new Set((await loadRecipients(removeArgs.filter((r) => r !== PASSPHRASE))).map(kid));
  const added = await loadRecipients(o.add ?? []);
  if (added.length === 0 && removeArgs.length === 0 && !o.rotate)
    fail("usage", "give --add, --remove or --rotate");
  await refuseToOverwrite(o.output, o.force);
  const capsule = await openCapsule(location, { trust: await loadTrusted(o.trust ?? []) });
  try {
    const seal = capsule.manifest.seal ?? fail("usage", `${location} is not sealed: use qcap seal`);
    const present = new Set(seal.recipients.flatMap((r) => (r.type === "x25519" ? [r.kid] : [])));
    for (const k of removeKids) if (!present.has(k)) fail("usage", `${k} is not a recipient of ${location}`);
    const hasPass = seal.recipients.some((r) => r.type === "argon2id");
    if (removePass && !hasPass) fail("usage", `${location} has no passphrase recipient`);
    const identities = await loadIdentities(o.identity ?? [], !o.passphrase);
    const passphrase = o.passphrase ? await readPassphrase("Passphrase: ") : undefined;
    const master = await unlockMasterKey(capsule, {
      identities,
      ...(passphrase !== undefined ? { passphrase } : {}),
    });
    const signingKey = await signingKeyOf(o);
    const capsuleId = fromHex(seal.capsuleId);

    const keptStanzas = seal.recipients.filter((r) =>
      r.type === "x25519" ? !removeKids.has(r.kid) : !removePass,
    );
    let result: { root: string; bytes: number; recipients: ReturnType<typeof recipientList> };
    if (!o.rotate) {
      for (const r of added)
        if (present.has(kid(r)) && !removeKids.has(kid(r))) fail("usage", `${kid(r)} is already a recipient`);
      const stanzas: Stanza[] = [...keptStanzas, ...added.map((r) => wrapToX25519(master, capsuleId, r))];
      if (stanzas.length === 0) fail("usage", "a sealed capsule needs at least one recipient");
      if (stanzas.length > MAX_RECIPIENTS)
        fail("usage", `a capsule has at most ${MAX_RECIPIENTS} recipients`);
      if (toHex(signingKey.publicKey) !== capsule.manifest.issuer) {
        warn(
          "the capsule is re-signed by another key: its grants, signed by the old issuer, no longer apply",
        );
      }
      // Packed again with the same master key and capsule id: every entry's stored bytes, the
      // pages and the root come out the same (a version 1 capsule becomes version 2).
      // The same names key: hidden names come out as they are, in the capsule's order.
      const source = await entryInputs(capsule, masterEntryKeys(capsule, master), master);
      const r = await pack(source.inputs, await fileSink(o.output, { replace: o.force ?? false }), {
        signingKey,
        reuseSeal: { masterKey: master, capsuleId, stanzas },
        hideNames: seal.hiddenNames,
        nameSorter: alreadySorted,
        directorySpill: () => fileSpill(),
      }).finally(() => source.close());
      const check = await fileSource(o.output);
      try {
        await Capsule.open(check); // the new file's layout and signature, before reporting success
      } finally {
        await check.close();
      }
      result = {
        root: r.manifest.root,
        bytes: r.size,
        recipients: recipientList(stanzas),
      };
      if (removeArgs.length > 0) {
        warn(
          "a removed recipient keeps what it already downloaded, and the master key it unwrapped still opens this payload; use --rotate to re-encrypt under a new master key",
        );
      }
    } else {
      // The manifest keeps only key ids, so every recipient of the new capsule must be named again.
      const addedKids = new Set(added.map(kid));
      const missing = keptStanzas.flatMap((s) =>
        s.type === "x25519" && !addedKids.has(s.kid) ? [s.kid] : [],
      );
      if (missing.length > 0) {
        fail(
          "usage",
          `--rotate re-wraps a new key: name every recipient to keep with --add (missing key ids: ${missing.join(", ")})`,
        );
      }
      const keepPass = hasPass && !removePass;
      if (keepPass && passphrase === undefined) {
        fail(
          "usage",
          "to keep the passphrase recipient give --passphrase, or drop it with --remove passphrase",
        );
      }
      if (added.length === 0 && !keepPass) fail("usage", "a sealed capsule needs at least one recipient");
      // A new names key: hidden names are ordered by their new hashes, spilling to a temporary file.
      const source = await entryInputs(capsule, masterEntryKeys(capsule, master), master);
      const r = await pack(source.inputs, await fileSink(o.output, { replace: o.force ?? false }), {
        signingKey,
        recipients: added,
        ...(keepPass ? { passphrase: passphrase as string } : {}),
        hideNames: seal.hiddenNames,
        nameSorter: spillSorter({ reopen: source.reopen }),
        directorySpill: () => fileSpill(),
      }).finally(() => source.close());
      result = {
        root: r.manifest.root,
        bytes: r.size,
        recipients: recipientList(r.manifest.seal?.recipients ?? []),
      };
      warn(
        "the payload is re-encrypted under a new master key; grants for the old capsule do not apply to it",
      );
    }
    const info = { capsule: o.output, rotated: o.rotate ?? false, ...result };
    if (o.json) return printJson("recipients", info);
    print(
      `wrote ${o.output}: ${plural(result.recipients.length, "recipient")} ${result.recipients.map((r) => ("kid" in r ? r.kid : r.type)).join(", ")}${o.rotate ? ", new master key" : ""}`,
    );
    print(`root ${result.root}`);
  } finally {
    await capsule.source.close();
  }
}

export function registerRecipients(p: Command): void {
  p.command("recipients")
    .description(
      "add or remove recipients: re-wrap the master key and re-sign, payload bytes copied as they are",
    )
    .argument("<capsule>", "sealed capsule: path or URL")
    .option(
      "--add <recipient>",
      "wrap the master key to this recipient (age1… or key file; repeatable)",
      collect,
    )
    .option(
      "--remove <recipient>",
      "drop this recipient (age1…, key file, or 'passphrase'; repeatable)",
      collect,
    )
    .option("-i, --identity <file>", "identity that opens the capsule (default: qcap init's key)", collect)
    .option("--passphrase", "open (and with --rotate keep) the capsule's passphrase recipient")
    .option(
      "--sign-key <file>",
      "signing key for the new manifest (default: the identity file, else qcap init's key)",
    )
    .option("--trust <key>", "require the input to be signed by this key (repeatable)", collect)
    .option("--rotate", "re-encrypt under a new master key; name every recipient to keep with --add")
    .requiredOption("-o, --output <file>", "capsule to write")
    .option("--force", "replace an existing output file")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nRemoving a recipient cannot take back what it already downloaded, and without --rotate the master\nkey it unwrapped still decrypts the payload. --rotate re-encrypts everything under a new key.",
    )
    .action((c: string, o: RecipientsOpts) => recipientsCommand(c, o));
}
