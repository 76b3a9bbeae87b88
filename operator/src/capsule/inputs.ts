/**
 * Gathering a Capsule's inputs: the files from its sources (as streaming PackInputs), its recipients
 * and signing key, and the inputs digest: a sha256 over everything that determines the capsule's
 * content, computed without reading large sources (S3 objects count by ETag and size, HTTP files by
 * their pinned sha256). Same digest = nothing to publish.
 */
import { createHash } from "node:crypto";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { bytesInput, type PackInput, parseRecipient, QcapError, type SigningKey } from "@qcap/core";
import type { CapsuleObject, CapsuleSource } from "../api/capsule.js";
import type { KubeClient } from "../kube/client.js";
import { ReconcileError } from "../kube/conditions.js";
import { isUnreachable, s3Client, s3ErrorMessage } from "../s3/client.js";
import { DEFAULT_HTTP_SOURCE_OPTIONS, type HttpSourceOptions, httpSourceInput } from "../sources/http.js";
import type { SigningMaterial } from "../tenancy/publisher.js";
import { pickKey, readConfigMap, readS3Credentials, readSecret } from "./refs.js";

export interface GatheredInputs {
  inputs: PackInput[];
  recipients: Uint8Array[];
  signingKey: SigningKey;
  /** X25519 identities held with the signing key (Q-Cap key file), able to open the capsule. */
  issuerIdentities: Uint8Array[];
  /** sha256 hex of the canonical description of all inputs. */
  digest: string;
}

interface Described {
  input: PackInput;
  /** What identifies the content without reading it. */
  identity: string;
}

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

function joinName(into: "payload" | "meta", folder: string | undefined, file: string): string {
  return [into, folder, file].filter((p) => p !== undefined && p !== "").join("/");
}

function memoryFile(name: string, bytes: Uint8Array): Described {
  return { input: bytesInput(name, bytes), identity: `sha256:${sha256(bytes)}` };
}

export interface InputContext {
  /** Acts as the Capsule's ServiceAccount: every ConfigMap, Secret and credential is read with its permissions. */
  kube: KubeClient;
  /** Egress policy and limits of HTTP sources (default: public addresses only). */
  http?: HttpSourceOptions;
  /** Aborts the S3 requests of sources when the reconcile is abandoned. */
  signal?: AbortSignal;
}

/** The sources must already have passed the publisher's policy (tenancy/policy.ts). */
export async function gatherInputs(
  ctx: InputContext,
  capsule: CapsuleObject,
  signing: SigningMaterial,
): Promise<GatheredInputs> {
  const { namespace } = capsule.metadata;
  const spec = capsule.spec;
  const files: Described[] = [];
  for (const [i, src] of spec.sources.entries()) {
    files.push(...(await sourceFiles(ctx, namespace, src, i)));
  }
  for (const [file, value] of Object.entries(spec.meta ?? {})) {
    const text = typeof value === "string" ? value : `${JSON.stringify(value, null, 2)}\n`;
    files.push(memoryFile(`meta/${file}`, Buffer.from(text, "utf8")));
  }

  const recipients: Uint8Array[] = [];
  for (const r of spec.recipients ?? []) {
    let text: string;
    let where: string;
    if (r.key) {
      text = r.key;
      where = "spec.recipients";
    } else if (r.configMapKeyRef) {
      const { name, key } = r.configMapKeyRef;
      text = pickKey(await readConfigMap(ctx.kube, namespace, name), key, "ConfigMap", name).toString("utf8");
      where = `ConfigMap "${name}" key "${key}"`;
    } else if (r.secretKeyRef) {
      const { name, key } = r.secretKeyRef;
      text = pickKey(await readSecret(ctx.kube, namespace, name), key, "Secret", name).toString("utf8");
      where = `Secret "${name}" key "${key}"`;
    } else {
      throw new ReconcileError("InvalidSpec", "a recipient needs key, configMapKeyRef or secretKeyRef", true);
    }
    const lines = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    if (lines.length === 0) throw new ReconcileError("InvalidRecipient", `no recipient in ${where}`, true);
    for (const line of lines) {
      try {
        recipients.push(parseRecipient(line));
      } catch (err) {
        const why = err instanceof QcapError ? err.message : "invalid";
        throw new ReconcileError("InvalidRecipient", `${where}: ${why}`, true);
      }
    }
  }

  const { signingKey, identities: issuerIdentities, recipients: issuerRecipients } = signing;
  // A Q-Cap key file also holds the publisher's X25519 identity: seal to it too, so the operator can
  // open its own capsules to mint grants.
  for (const r of issuerRecipients) {
    if (!recipients.some((x) => Buffer.from(x).equals(Buffer.from(r)))) recipients.push(r);
  }

  const description = {
    v: 1,
    issuer: Buffer.from(signingKey.publicKey).toString("hex"),
    recipients: recipients.map((r) => Buffer.from(r).toString("hex")).sort(),
    hideNames: spec.hideNames === true,
    files: files
      .map((f) => ({ name: f.input.name, size: f.input.size, mode: f.input.mode ?? 420, id: f.identity }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
  return {
    inputs: files.map((f) => f.input),
    recipients,
    signingKey,
    issuerIdentities,
    digest: sha256(JSON.stringify(description)),
  };
}

async function sourceFiles(
  ctx: InputContext,
  namespace: string,
  src: CapsuleSource,
  index: number,
): Promise<Described[]> {
  const into = src.into ?? "payload";
  const name = (file: string) => joinName(into, src.path, file);
  if (src.configMap) {
    const data = await readConfigMap(ctx.kube, namespace, src.configMap.name);
    const keys = src.configMap.keys ?? [...data.keys()].sort();
    return keys.map((k) => memoryFile(name(k), pickKey(data, k, "ConfigMap", src.configMap?.name ?? "")));
  }
  if (src.secret) {
    const data = await readSecret(ctx.kube, namespace, src.secret.name);
    const keys = src.secret.keys ?? [...data.keys()].sort();
    return keys.map((k) => memoryFile(name(k), pickKey(data, k, "Secret", src.secret?.name ?? "")));
  }
  if (src.inline) {
    return Object.entries(src.inline)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([file, content]) => memoryFile(name(file), Buffer.from(content, "utf8")));
  }
  if (src.s3) return s3Files(ctx, namespace, src, name, index);
  if (src.http) return [await httpSourceInput(src.http, name, ctx.http ?? DEFAULT_HTTP_SOURCE_OPTIONS)];
  throw new ReconcileError("InvalidSpec", `sources[${index}]: no source type set`, true);
}

async function s3Files(
  ctx: InputContext,
  namespace: string,
  src: CapsuleSource,
  name: (file: string) => string,
  index: number,
): Promise<Described[]> {
  const s = src.s3;
  if (!s) return [];
  // Never the destination's credentials: a source is read with what the ServiceAccount can read.
  const creds = await readS3Credentials(ctx.kube, namespace, s.credentialsSecretRef.name);
  const endpoint = s.endpoint;
  const client = s3Client({ endpoint, region: s.region, ...creds, signal: ctx.signal });
  const where = `sources[${index}] s3://${s.bucket}/${s.key ?? s.prefix ?? ""}`;
  const fail = (err: unknown): never => {
    if (err instanceof ReconcileError) throw err;
    const reason = isUnreachable(err) ? "SourceUnreachable" : "SourceFetchFailed";
    throw new ReconcileError(reason, `${where}: ${s3ErrorMessage(err)}`);
  };
  const objects: { key: string; size: number; etag: string; file: string }[] = [];
  try {
    if (s.key) {
      const head = await client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: s.key }));
      objects.push({
        key: s.key,
        size: Number(head.ContentLength ?? 0),
        etag: head.ETag ?? "",
        file: s.key.split("/").pop() ?? s.key,
      });
    } else {
      const prefix = s.prefix ? `${s.prefix.replace(/\/+$/, "")}/` : "";
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: s.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          if (!o.Key || o.Key.endsWith("/")) continue;
          objects.push({
            key: o.Key,
            size: Number(o.Size ?? 0),
            etag: o.ETag ?? "",
            file: o.Key.slice(prefix.length),
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    }
  } catch (err) {
    fail(err);
  }
  return objects.map((o) => ({
    identity: `s3:${endpoint ?? ""}/${s.bucket}/${o.key}@${o.etag}:${o.size}`,
    input: {
      name: name(o.file),
      size: o.size,
      async *read() {
        let body: AsyncIterable<Uint8Array>;
        try {
          // IfMatch: the bytes must be the version the digest was computed from.
          const res = await client.send(
            new GetObjectCommand({ Bucket: s.bucket, Key: o.key, IfMatch: o.etag || undefined }),
          );
          body = res.Body as AsyncIterable<Uint8Array>;
        } catch (err) {
          return fail(err);
        }
        yield* body;
      },
    },
  }));
}
