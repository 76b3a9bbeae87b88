/** `qcap attenuate`: narrow a grant offline and hand it on. */
import { x25519 } from "@noble/curves/ed25519.js";
import type { Command } from "commander";
import { kid } from "../crypto/recipients.js";
import { fail } from "../errors.js";
import { attenuateGrant } from "../grant/attenuate.js";
import { describeGrant, serializeGrant } from "../grant/grant.js";
import { timeOrDuration } from "../grant/time.js";
import { audienceOf, parseAllow } from "./grant.js";
import { loadRevocations, payloadGlob, readGrant } from "./grant-io.js";
import { grantJson } from "./json.js";
import { loadIdentities } from "./keys.js";
import { now, print, printJson, writeTextFile } from "./output.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface AttenuateOpts {
  identity?: string[];
  to?: string;
  paths?: string[];
  expires?: string;
  allow?: string;
  purpose?: string;
  revocations?: string;
  output: string;
  force?: boolean;
  json?: boolean;
}

async function attenuateCommand(file: string, o: AttenuateOpts): Promise<void> {
  const t = now();
  const grant = await readGrant(file);
  const allow = parseAllow(o.allow);
  const identities = await loadIdentities(o.identity ?? [], true);
  const aud = describeGrant(grant).audience;
  const identity = identities.find((s) => kid(x25519Public(s)) === aud) ?? identities[0];
  if (!identity) return fail("usage", "give --identity FILE");
  const revocations = o.revocations
    ? await loadRevocations(o.revocations, grant.issued.issuer, t)
    : undefined;
  const narrower = attenuateGrant(grant, {
    identity,
    now: t,
    ...(o.to !== undefined ? { to: await audienceOf(o.to) } : {}),
    ...(o.paths && o.paths.length > 0 ? { paths: o.paths.map(payloadGlob) } : {}),
    ...(o.expires !== undefined ? { expires: timeOrDuration(o.expires, t, "--expires") } : {}),
    ...(allow ? { allow } : {}),
    ...(o.purpose !== undefined ? { purpose: o.purpose } : {}),
    ...(revocations ? { revocations } : {}),
  });
  await writeTextFile(o.output, serializeGrant(narrower), { mode: 0o600, force: o.force ?? false });
  const d = describeGrant(narrower);
  if (o.json) return printJson("attenuate", { grantFile: o.output, ...grantJson(d) });
  print(`wrote ${o.output}: grant ${d.id} narrowed for ${d.audience}`);
  print(`allow ${d.allow}; expires ${d.expires ?? "never"}; paths ${d.paths.join(" ∩ ") || "all"}`);
}

const x25519Public = (secret: Uint8Array): Uint8Array => x25519.getPublicKey(secret);

export function registerAttenuate(p: Command): void {
  p.command("attenuate")
    .description("narrow a grant offline: append caveats and re-wrap only the narrower keys")
    .argument("<grant>", "grant file (cap.json)")
    .option(
      "-i, --identity <file>",
      "your identity, the grant's audience (default: qcap init's key)",
      collect,
    )
    .option("--to <recipient>", "hand the narrower grant to this audience (age1… or key file)")
    .option("--paths <glob>", "keep only payload paths matching this glob (repeatable; a union)", collect)
    .option("--expires <time>", "an earlier expiry: RFC 3339 time or duration from now")
    .option("--allow <what>", "inspect: drop the keys, keep the real names")
    .option("--purpose <word>", "restrict to one purpose")
    .option("--revocations <file|url>", "refuse a revoked grant (signed revocation list)")
    .requiredOption("-o, --output <file>", "narrower grant to write (mode 0600)")
    .option("--force", "replace an existing file")
    .option("--json", "machine-readable output")
    .action((g: string, o: AttenuateOpts) => attenuateCommand(g, o));
}
