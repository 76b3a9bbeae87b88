/** `qcap grant`: a capability for a sealed capsule, opening only the given paths, for one audience. */
import type { Command } from "commander";
import { unlockMasterKey } from "../capsule/unlock.js";
import { kid } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import type { Allow } from "../grant/caveats.js";
import { describeGrant, issueGrant, serializeGrant } from "../grant/grant.js";
import { timeOrDuration } from "../grant/time.js";
import { payloadGlob } from "./grant-io.js";
import { openCapsule } from "./io.js";
import { grantJson } from "./json.js";
import { loadIdentities, loadMaterial, loadRecipients, loadSigningKey, loadTrusted } from "./keys.js";
import { now, print, printJson, writeTextFile } from "./output.js";
import { readPassphrase } from "./passphrase.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

export interface GrantOpts {
  to: string;
  identity?: string[];
  passphrase?: boolean;
  signKey?: string;
  allow?: string;
  paths?: string[];
  expires?: string;
  purpose?: string;
  trust?: string[];
  output: string;
  force?: boolean;
  json?: boolean;
}

export function parseAllow(a: string | undefined): Allow | undefined {
  if (a === undefined || a === "read" || a === "inspect") return a;
  return fail("usage", "--allow must be read or inspect");
}

/** The one X25519 public key a --to argument names. */
export async function audienceOf(to: string): Promise<Uint8Array> {
  const rs = await loadRecipients([to]);
  if (rs.length !== 1) fail("usage", `--to must name one recipient (${to} holds ${rs.length})`);
  return rs[0] as Uint8Array;
}

/**
 * The signing key of a grant: --sign-key, else the single --identity file when it holds one (a
 * Q-Cap key file holds both), else the default key.
 */
async function grantSigningKey(o: GrantOpts) {
  if (o.signKey !== undefined) return loadSigningKey(o.signKey);
  const ids = o.identity ?? [];
  if (ids.length === 1) {
    const m = await loadMaterial(ids[0] as string, "identity");
    if (m.signing) return m.signing;
  }
  return loadSigningKey(undefined);
}

async function grantCommand(location: string, o: GrantOpts): Promise<void> {
  const t = now();
  const allow = parseAllow(o.allow);
  const expires = o.expires !== undefined ? timeOrDuration(o.expires, t, "--expires") : undefined;
  const audience = await audienceOf(o.to);
  const capsule = await openCapsule(location, { trust: await loadTrusted(o.trust ?? []) });
  try {
    if (!capsule.sealed) fail("usage", `${location} is not sealed: there is nothing to grant`);
    const identities = await loadIdentities(o.identity ?? [], !o.passphrase);
    const passphrase = o.passphrase ? await readPassphrase("Passphrase: ") : undefined;
    const master = await unlockMasterKey(capsule, {
      identities,
      ...(passphrase !== undefined ? { passphrase } : {}),
    });
    const grant = await issueGrant(capsule, master, {
      signingKey: await grantSigningKey(o),
      audience,
      now: t,
      ...(allow ? { allow } : {}),
      ...(o.paths && o.paths.length > 0 ? { paths: o.paths.map(payloadGlob) } : {}),
      ...(expires !== undefined ? { expires } : {}),
      ...(o.purpose !== undefined ? { purpose: o.purpose } : {}),
    });
    await writeTextFile(o.output, serializeGrant(grant), { mode: 0o600, force: o.force ?? false });
    const d = describeGrant(grant);
    const info = { grant: o.output, ...d, audience: kid(audience) };
    if (o.json) return printJson("grant", { grantFile: o.output, ...grantJson(d), audience: info.audience });
    print(
      `wrote ${o.output}: grant ${d.id} for ${info.audience}, ${d.entriesGranted} entr${d.entriesGranted === 1 ? "y" : "ies"}`,
    );
    print(`allow ${d.allow}; expires ${d.expires ?? "never"}; paths ${d.paths.join(" ") || "all"}`);
  } finally {
    await capsule.source.close();
  }
}

export function registerGrant(p: Command): void {
  p.command("grant")
    .description("grant one audience the keys of some paths of a sealed capsule (a signed macaroon grant)")
    .argument("<capsule>", "sealed capsule: path or URL")
    .requiredOption("--to <recipient>", "the audience: age1… recipient, or a key or recipient file")
    .option(
      "-i, --identity <file>",
      "identity that opens the capsule (repeatable; default: qcap init's key)",
      collect,
    )
    .option("--passphrase", "open the capsule with its passphrase (QCAP_PASSPHRASE or a prompt)")
    .option(
      "--sign-key <file>",
      "the capsule issuer's signing key (default: the identity file, else qcap init's key)",
    )
    .option("--allow <what>", "read (default) or inspect (real names only, no keys)")
    .option("--paths <glob>", "grant only payload paths matching this glob (repeatable; a union)", collect)
    .option("--expires <time>", "RFC 3339 time or duration from now (90m, 12h, 30d, 2w)")
    .option("--purpose <word>", "the one purpose the grant may be used for")
    .option("--trust <key>", "require the capsule to be signed by this key (repeatable)", collect)
    .requiredOption("-o, --output <file>", "grant file to write (mode 0600)")
    .option("--force", "replace an existing file")
    .option("--json", "machine-readable output")
    .action((c: string, o: GrantOpts) => grantCommand(c, o));
}
