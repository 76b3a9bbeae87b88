/**
 * `qcap fetch REGISTRY NAME[@ROOT|@latest] -o FILE`: picks the entry from the registry's index,
 * downloads its artifact to a temporary file beside FILE (at most the size the index states), checks
 * the sha256 the index names, verifies the capsule (signature, pinned signer, every byte) and that its
 * root and issuer are the index's, and only then moves it into place.
 */
import { randomBytes } from "node:crypto";
import { unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import { fail } from "../errors.js";
import { moveIntoPlace } from "../node/sink.js";
import { forgetTemp, rememberTemp } from "../node/temp-files.js";
import { pickEntry } from "../registry/layout.js";
import { parseRegistryAddress } from "../registry/location.js";
import { print, printJson, refuseToOverwrite } from "./output.js";
import { loadRegistrySdk, type RegistryCliOpts, registryOptions } from "./registry-options.js";
import { verifyCapsuleFile } from "./registry-verify.js";
import type { TrustOpts } from "./trust.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface FetchOpts extends RegistryCliOpts, TrustOpts {
  output: string;
  force?: boolean;
}

export function registerFetch(p: Command): void {
  registryOptions(
    p
      .command("fetch")
      .description("download a capsule named in a registry, verify it against the index, write it to a file")
      .argument("<registry>", "s3://BUCKET/PREFIX or the http(s) URL the prefix is served at")
      .argument("<name>", "[namespace/]name, optionally @latest (default) or @ROOT (the root it must have)"),
  )
    .requiredOption("-o, --output <file>", "capsule file to write")
    .option("--force", "replace an existing output file")
    .option("--trust <key>", "require the capsule to be signed by this key (repeatable)", collect)
    .option("--require-trust", "refuse a signer pinned neither by --trust nor the trust store")
    .addHelpText(
      "after",
      `
Examples:
  qcap fetch s3://my-bucket/capsules data -o data.qcap
  qcap fetch https://releases.example.org team/data@latest -o data.qcap --trust publisher.pub
  qcap fetch s3://my-bucket/capsules data@3f1c…e9 -o data.qcap   # only that root`,
    )
    .action((registry, name, o) => fetchCommand(registry, name, o));
}

export async function fetchCommand(registry: string, ref: string, o: FetchOpts): Promise<void> {
  const addr = parseRegistryAddress(registry);
  await refuseToOverwrite(o.output, o.force);
  const sdk = addr.kind === "s3" ? await loadRegistrySdk() : null;
  const s3 = sdk ? sdk.access.s3Access(o) : null;
  const base = addr.kind === "http" ? addr.base : "";
  const http = await import("./registry-http.js");
  try {
    const read =
      addr.kind === "s3" && sdk && s3
        ? await sdk.access.readS3Index(addr, s3)
        : { index: await http.readHttpIndex(base), loc: undefined };
    const { index, loc } = read;
    const entry = pickEntry(index, ref);
    const tmp = join(dirname(o.output), `.${basename(o.output)}.${randomBytes(6).toString("hex")}.tmp`);
    rememberTemp(tmp);
    try {
      const got =
        addr.kind === "s3" && sdk && loc
          ? await sdk.access.downloadS3(addr, entry, loc, tmp)
          : await http.downloadHttp(base, entry, tmp);
      const label = `${entry.namespace}/${entry.name}`;
      if (got.bytes !== entry.size)
        fail("integrity", `${label}: downloaded ${got.bytes} bytes, the registry says ${entry.size}`);
      if (entry.digest.startsWith("sha256:") && entry.digest !== `sha256:${got.sha256}`)
        fail("integrity", `${label}: the download's sha256 does not match the registry's digest`);
      const capsule = await verifyCapsuleFile(tmp, { ...o, quiet: o.json === true });
      if (capsule.root !== entry.root)
        fail("integrity", `${label}: the capsule's root ${capsule.root} is not the registry's ${entry.root}`);
      if (capsule.issuer !== entry.issuer)
        fail(
          "integrity",
          `${label}: the capsule is signed by ${capsule.issuer}, the registry names ${entry.issuer}`,
        );
      try {
        await moveIntoPlace(tmp, o.output, o.force ?? false);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST")
          fail("input", `refusing to overwrite ${o.output} (use --force to replace it)`);
        throw e;
      }
      forgetTemp(tmp);
      const result = {
        registry,
        namespace: entry.namespace,
        name: entry.name,
        root: entry.root,
        issuer: entry.issuer,
        signer: capsule.signer,
        sealed: entry.sealed,
        bytes: entry.size,
        digest: entry.digest,
        output: o.output,
      };
      if (o.json) return printJson("fetch", result);
      capsule.report();
      print(`OK ${label} verified and written to ${o.output}`);
      print(`root   ${entry.root}`);
    } finally {
      await unlink(tmp).catch(() => {});
      forgetTemp(tmp);
    }
  } finally {
    s3?.client.destroy();
  }
}
