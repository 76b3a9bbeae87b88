/**
 * `qcap publish CAPSULE s3://bucket/prefix`: verifies the capsule, uploads it beside the registry
 * index, then adds its entry to index.json by compare-and-swap (so concurrent publishers, the operator
 * and the Action keep each other's entries) and rewrites index.html. The artifact is complete before
 * the index names it; when the index update fails, the upload is removed again.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import type { Command } from "commander";
import { fail } from "../errors.js";
import { fsReason } from "../node/source.js";
import { parseEntryName, type RegistryEntry } from "../registry/layout.js";
import { objectUrl, parseRegistryAddress } from "../registry/location.js";
import { plural, print, printJson } from "./output.js";
import { loadRegistrySdk, type RegistryCliOpts, registryOptions } from "./registry-options.js";
import { verifyCapsuleFile } from "./registry-verify.js";
import type { TrustOpts } from "./trust.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface PublishOpts extends RegistryCliOpts, TrustOpts {
  name?: string;
  publicUrl?: string;
  retries?: string;
  unsafeUnconditionalWrites?: boolean;
}

export function registerPublish(p: Command): void {
  registryOptions(
    p
      .command("publish")
      .description("verify a capsule, upload it to an S3 registry prefix and add it to index.json")
      .argument("<capsule>", "capsule file to publish")
      .argument("<registry>", "s3://BUCKET/PREFIX"),
  )
    .option("--name <[namespace/]name>", "registry name (default: the file name without .qcap)")
    .option("--trust <key>", "require the capsule to be signed by this key (repeatable)", collect)
    .option("--require-trust", "refuse a signer pinned neither by --trust nor the trust store")
    .option("--public-url <url>", "base URL where the prefix is served, for the entry's download URL")
    .option("--retries <n>", "index.json writes to try when other publishers conflict", "16")
    .option(
      "--unsafe-unconditional-writes",
      "update the index on a server that ignores If-Match (may lose concurrent entries)",
    )
    .addHelpText(
      "after",
      `
Examples:
  qcap publish data.qcap s3://my-bucket/capsules
  qcap publish data.qcap s3://my-bucket/capsules --name team/data --json
  AWS_PROFILE=ci qcap publish out.qcap s3://releases --public-url https://releases.example.org
  qcap publish data.qcap s3://local/reg --endpoint http://127.0.0.1:9000 --path-style

Credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
AWS_PROFILE and ~/.aws, SSO, instance roles); the endpoint from --endpoint or AWS_ENDPOINT_URL.`,
    )
    .action((capsule, registry, o) => publishCommand(capsule, registry, o));
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (e) {
    fail("input", `cannot read ${path}: ${fsReason(e)}`, e);
  }
  return hash.digest("hex");
}

const defaultName = (path: string) => basename(path).replace(/\.qcap$/i, "");

export async function publishCommand(path: string, registry: string, o: PublishOpts): Promise<void> {
  const addr = parseRegistryAddress(registry);
  if (addr.kind !== "s3") fail("usage", "publish needs an s3://BUCKET/PREFIX registry");
  const { namespace, name } = parseEntryName(o.name ?? defaultName(path));
  const maxAttempts = Number(o.retries);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100)
    fail("usage", "--retries must be a whole number from 1 to 100");
  if (o.publicUrl !== undefined && !/^https?:\/\/[^/]/i.test(o.publicUrl))
    fail("usage", `invalid --public-url "${o.publicUrl}": give an http(s) URL`);

  const sdk = await loadRegistrySdk();
  const s3 = sdk.access.s3Access(o);
  // Hashed before the check and again while uploading: a file that changes meanwhile is not published.
  const before = await sha256File(path);
  const capsule = await verifyCapsuleFile(path, { ...o, quiet: o.json === true });
  const loc = { client: s3.client, bucket: addr.bucket, prefix: addr.prefix };
  try {
    // Fails early, before the upload: no bucket, no access, not a registry, no compare-and-swap.
    await sdk.access.s3Call(loc, "index.json", () => sdk.store.readIndexVersion(loc));
    const conditional = await sdk.access.s3Call(loc, "index.json", () =>
      sdk.store.honoursConditionalWrites(loc),
    );
    if (!conditional && !o.unsafeUnconditionalWrites)
      fail(
        "integrity",
        `the S3 server of bucket "${addr.bucket}" ignores conditional writes (If-Match): concurrent publishers could lose entries; --unsafe-unconditional-writes publishes anyway`,
      );

    const folder = `${addr.prefix ? `${addr.prefix}/` : ""}${namespace}/${name}/`;
    const key = `${folder}${capsule.root.slice(0, 16)}-${randomBytes(6).toString("hex")}.qcap`;
    const uploaded = await sdk.upload.uploadFile(loc, key, path, { "qcap-root": capsule.root });
    if (uploaded.bytes !== capsule.size || uploaded.sha256 !== before) {
      await sdk.upload.removeObject(loc, key);
      fail("input", `${path} changed while it was being published: nothing was added to the registry`);
    }

    const digest = `sha256:${uploaded.sha256}`;
    const url = objectUrl(
      {
        ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
        region: await sdk.access.s3Call(loc, "index.json", s3.region),
        bucket: addr.bucket,
        ...(o.publicUrl !== undefined ? { publicURL: o.publicUrl } : {}),
        prefix: addr.prefix,
      },
      key,
    );
    const updated = new Date().toISOString();
    const entryFor = (current: RegistryEntry | undefined): RegistryEntry => ({
      namespace,
      name,
      revision: digest,
      root: capsule.root,
      size: capsule.size,
      digest,
      url,
      key,
      issuer: capsule.issuer,
      sealed: capsule.sealed,
      updated,
      ...(current && current.key !== key ? { previousKey: current.key } : {}),
    });
    let result: Awaited<ReturnType<typeof sdk.store.updateIndex>>;
    try {
      result = await sdk.access.s3Call(loc, "index.json", () =>
        sdk.store.updateIndex(loc, namespace, name, entryFor, {
          maxAttempts,
          conditionalWrites: conditional,
          unconditional: "verify",
        }),
      );
    } catch (e) {
      // The index does not name the upload: remove it rather than leave an orphan.
      await sdk.upload.removeObject(loc, key);
      throw e;
    }
    // Readers of the index before this one may still fetch the previous artifact; the one before it
    // is named by no index any more.
    const stale = result.previous?.previousKey;
    const removed =
      stale && stale !== key && stale.startsWith(folder) ? await sdk.upload.removeObject(loc, stale) : false;

    const summary = {
      registry: `s3://${addr.bucket}/${addr.prefix}`,
      namespace,
      name,
      root: capsule.root,
      issuer: capsule.issuer,
      sealed: capsule.sealed,
      bytes: capsule.size,
      digest,
      key,
      url,
      replaced: result.previous ? { root: result.previous.root, key: result.previous.key } : null,
      ...(removed && stale ? { removed: stale } : {}),
      attempts: result.attempts,
    };
    if (o.json) return printJson("publish", summary);
    capsule.report();
    print(`published ${namespace}/${name} to ${summary.registry}`);
    print(`root   ${capsule.root}`);
    print(`url    ${url}`);
    if (result.attempts > 1)
      print(
        `index.json updated after ${plural(result.attempts - 1, "conflicting write")} by other publishers`,
      );
  } finally {
    s3.client.destroy();
  }
}
