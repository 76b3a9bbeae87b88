/** `qcap ls REGISTRY`: the capsules a registry's index.json names. */
import type { Command } from "commander";
import { parseRegistryAddress } from "../registry/location.js";
import { plural, print, printJson } from "./output.js";
import { loadRegistrySdk, type RegistryCliOpts, registryOptions } from "./registry-options.js";

export function registerLs(p: Command): void {
  registryOptions(
    p
      .command("ls")
      .description("list the capsules of a registry (its index.json)")
      .argument("<registry>", "s3://BUCKET/PREFIX or the http(s) URL the prefix is served at"),
  )
    .addHelpText(
      "after",
      `
Examples:
  qcap ls s3://my-bucket/capsules
  qcap ls https://releases.example.org --json`,
    )
    .action((registry, o) => lsCommand(registry, o));
}

export async function lsCommand(registry: string, o: RegistryCliOpts): Promise<void> {
  const addr = parseRegistryAddress(registry);
  const sdk = addr.kind === "s3" ? await loadRegistrySdk() : null;
  const s3 = sdk ? sdk.access.s3Access(o) : null;
  const base = addr.kind === "http" ? addr.base : "";
  try {
    const index =
      addr.kind === "s3" && sdk && s3
        ? (await sdk.access.readS3Index(addr, s3)).index
        : await (await import("./registry-http.js")).readHttpIndex(base);
    if (o.json)
      return printJson("ls", {
        registry,
        updated: index.updated,
        capsules: index.capsules.map(({ size, ...c }) => ({ ...c, bytes: size })),
      });
    print(`${plural(index.capsules.length, "capsule")} in ${registry} (updated ${index.updated})`);
    for (const c of index.capsules)
      print(
        `${c.namespace}/${c.name}  ${c.root}  ${c.size} bytes  ${c.sealed ? "sealed" : "signed"}  ${c.updated}`,
      );
  } finally {
    s3?.client.destroy();
  }
}
