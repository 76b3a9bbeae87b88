/**
 * Capsule reconciler: level-triggered and idempotent. It reads the Capsule and its inputs, and
 * converges the destination on them: when the inputs digest differs from the published revision it
 * packs, seals and signs a new capsule straight into S3 under a fresh key, and only after that upload
 * completed points the registry (index.json, index.html) and the status at it. A crash at any step
 * leaves the registry pointing at a complete artifact; the next reconcile redoes the rest and removes
 * what an interrupted run left behind.
 */

import { randomBytes } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from "@aws-sdk/client-s3";
import { pack } from "@qcap/core";
import { type RegistryEntry, readIndex, updateEntry } from "@qcap/core/registry";
import type { Artifact, CapsuleObject } from "../api/capsule.js";
import { capsulePath } from "../api/paths.js";
import type { PublisherObject } from "../api/publisher.js";
import { parseDuration } from "../duration.js";
import type { KubeClient } from "../kube/client.js";
import {
  type Condition,
  getCondition,
  progressing,
  READY,
  RECONCILING,
  ReconcileError,
  ready,
} from "../kube/conditions.js";
import type { EventRecorder } from "../kube/events.js";
import type { Outcome } from "../kube/queue.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { ReconciledKind } from "../reconcile-common.js";
import { classify, destinationCall } from "../reconcile-errors.js";
import { ensureRevocations } from "../registry/revocations.js";
import { objectUrl, s3ErrorMessage } from "../s3/client.js";
import { DestinationLimiter } from "../s3/destination-limit.js";
import { s3Sink } from "../s3/sink.js";
import { DEFAULT_HTTP_SOURCE_OPTIONS, type HttpSourceOptions } from "../sources/http.js";
import { actingServiceAccount, DEFAULT_SERVICE_ACCOUNT, selfAccessCheck } from "../tenancy/access.js";
import { AdmissionPolicyProbe, admissionNote } from "../tenancy/admission.js";
import {
  authorizePublisherUse,
  checkSourcePolicy,
  describeRef,
  httpHostAllowed,
  publisherRefOf,
} from "../tenancy/policy.js";
import { getPublisher } from "../tenancy/publisher.js";
import { type Destination, type Publishing, resolvePublishing } from "../tenancy/publishing.js";
import { gatherInputs } from "./inputs.js";

export const FINALIZER = "qcap.dev/finalizer";
const DEFAULT_INTERVAL = "10m";

export interface CapsuleReconcilerDeps {
  kube: KubeClient;
  events: EventRecorder;
  log: Logger;
  metrics: Metrics;
  /** ServiceAccount a Capsule or grant without spec.serviceAccountName acts as (in its own namespace). */
  defaultServiceAccount?: string;
  /** Namespace of the Secrets ClusterPublishers refer to. */
  clusterResourceNamespace?: string;
  /** Test hook: called with the object key when an upload has started sending bytes. */
  onUploadProgress?: (key: string, loaded: number) => void;
  /** Egress policy and limits of HTTP sources (default: public addresses only). */
  httpSources?: HttpSourceOptions;
  /** Bounds the reconciles talking to one destination at a time. */
  limiter?: DestinationLimiter;
  /** The informer's copy of a namespaced Publisher (spares the limiter a read per reconcile). */
  cachedPublisher?: (namespace: string, name: string) => PublisherObject | undefined;
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

export class CapsuleReconciler {
  private readonly kind: ReconciledKind<CapsuleObject>;
  readonly admission: AdmissionPolicyProbe;

  constructor(private readonly d: CapsuleReconcilerDeps) {
    this.kind = new ReconciledKind({ ...d, kind: "Capsule", path: capsulePath, finalizer: FINALIZER });
    this.admission = new AdmissionPolicyProbe(d.kube);
  }

  async reconcile(namespace: string, name: string, signal?: AbortSignal): Promise<Outcome | undefined> {
    const capsule = await this.kind.get(namespace, name);
    if (!capsule) return undefined;
    const log = this.d.log.child({ capsule: `${namespace}/${name}` });
    const release = this.d.limiter?.tryAcquire(await this.limiterKey(capsule), `${namespace}/${name}`);
    if (this.d.limiter && !release) return { requeueAfterMs: 30_000 }; // woken earlier when a slot frees
    try {
      return await this.reconcileWith(capsule, log, signal);
    } finally {
      release?.();
    }
  }

  private async reconcileWith(
    capsule: CapsuleObject,
    log: Logger,
    signal?: AbortSignal,
  ): Promise<Outcome | undefined> {
    if (capsule.metadata.deletionTimestamp) {
      await this.finalize(capsule, log, signal);
      return undefined;
    }
    if (!this.kind.hasFinalizer(capsule)) {
      // The update event brings us back with the finalizer in place.
      await this.kind.addFinalizer(capsule);
      return undefined;
    }
    if (capsule.spec.suspend) {
      log.info("suspended: not reconciling");
      return undefined;
    }
    let interval: number;
    try {
      interval = parseDuration(capsule.spec.interval ?? DEFAULT_INTERVAL);
    } catch {
      interval = parseDuration(DEFAULT_INTERVAL);
    }
    try {
      await this.kind.observe(capsule);
      await this.converge(capsule, log, signal);
      return { requeueAfterMs: interval };
    } catch (err) {
      const e = classify(err);
      await this.kind.reportFailure(capsule, e, log);
      if (e.permanent) return { requeueAfterMs: interval };
      throw e;
    }
  }

  get clusterResourceNamespace() {
    return this.d.clusterResourceNamespace ?? "qcap-system";
  }

  /**
   * The limiter's key: the destination (endpoint + bucket) the Capsule's publisher names, read with the
   * operator's own client (from the informer's cache when it has the Publisher), so that Capsules of any
   * publishers writing to one dead endpoint share its slots. Nothing of it reaches the Capsule's status;
   * when the publisher cannot be read (missing, API error), the key is the publisher itself and the
   * reconcile reports the error after its authorization checks.
   */
  private async limiterKey(capsule: CapsuleObject): Promise<string> {
    if (!this.d.limiter) return "";
    const ref = publisherRefOf(capsule.spec);
    const { namespace } = capsule.metadata;
    try {
      const cached = ref.kind === "Publisher" ? this.d.cachedPublisher?.(namespace, ref.name) : undefined;
      const p =
        cached ?? (await getPublisher(this.d.kube, ref, namespace, this.clusterResourceNamespace)).publisher;
      const d = p.spec.destination;
      return DestinationLimiter.destinationKey(d.endpoint, d.bucket);
    } catch {
      return `publisher|${describeRef(ref, namespace)}`;
    }
  }

  get defaultServiceAccount() {
    return this.d.defaultServiceAccount ?? DEFAULT_SERVICE_ACCOUNT;
  }

  /** The publisher a Capsule refers to, its destination and signing key; no authorization here. */
  publishing(capsule: CapsuleObject, signal?: AbortSignal): Promise<Publishing> {
    return resolvePublishing(this.d.kube, capsule, this.clusterResourceNamespace, signal);
  }

  /**
   * Checks, as the Capsule's ServiceAccount, that it may use its publisher, then that the publisher's
   * policy allows its sources. Returns the publishing context and a client acting as that account.
   */
  async authorized(
    capsule: CapsuleObject,
    signal?: AbortSignal,
  ): Promise<{ publishing: Publishing; tenant: KubeClient }> {
    const sa = actingServiceAccount(capsule, this.defaultServiceAccount);
    const tenant = this.d.kube.as(sa.user);
    const who = `ServiceAccount "${sa.namespace}/${sa.name}"`;
    const ref = publisherRefOf(capsule.spec);
    // Before the publisher is read: a Capsule learns nothing about publishers it may not use.
    await authorizePublisherUse(selfAccessCheck(tenant), who, ref, capsule.metadata.namespace);
    const publishing = await this.publishing(capsule, signal);
    checkSourcePolicy(
      publishing.publisher.publisher.spec.sources,
      capsule.spec.sources,
      publishing.publisher.label,
    );
    return { publishing, tenant };
  }

  private async converge(capsule: CapsuleObject, log: Logger, signal?: AbortSignal) {
    const { namespace, name, generation } = capsule.metadata;
    const { publishing, tenant } = await this.authorized(capsule, signal);
    const dest = publishing.dest;
    const sourcePolicy = publishing.publisher.publisher.spec.sources;
    const gathered = await gatherInputs(
      {
        kube: tenant,
        http: {
          ...(this.d.httpSources ?? DEFAULT_HTTP_SOURCE_OPTIONS),
          // Both must admit every URL fetched (redirects included): the operator-wide policy (the
          // addresses connected to) and the hosts the publisher lists.
          hostAllowed: (url) => httpHostAllowed(sourcePolicy, url),
          signal,
          log,
        },
        signal,
      },
      capsule,
      await publishing.signing(),
    );
    const revision = `sha256:${gathered.digest}`;
    const index = await destinationCall("read the registry", () => readIndex(dest.loc));
    const current = index.capsules.find((c) => c.namespace === namespace && c.name === name);

    if (current?.revision === revision && (await this.exists(dest, current.key, current.size))) {
      // Up to date. Make the status say so (it may have been lost, or never written after a crash).
      await destinationCall("publish the revocation list", () =>
        ensureRevocations(dest.loc, gathered.signingKey, null),
      );
      const artifact = artifactOf(current);
      const note = admissionNote(await this.admission.state("capsules"));
      const st = capsule.status ?? {};
      if (
        st.inputsDigest !== revision ||
        st.artifact?.key !== artifact.key ||
        st.observedGeneration !== generation ||
        getCondition(st.conditions as Condition[], READY)?.status !== "True" ||
        getCondition(st.conditions as Condition[], READY)?.message !== readyMessage(artifact) + note ||
        getCondition(st.conditions as Condition[], RECONCILING) !== undefined
      ) {
        await this.kind.writeStatus(capsule, {
          observedGeneration: generation,
          inputsDigest: revision,
          artifact: st.artifact?.key === artifact.key ? st.artifact : artifact,
          conditions: ready(
            st.conditions as Condition[],
            "Succeeded",
            readyMessage(artifact) + note,
            generation,
          ),
        });
      }
      await this.collectGarbage(
        dest,
        [current.key, ...(current.previousKey ? [current.previousKey] : [])],
        log,
      );
      return;
    }

    await this.kind.writeStatus(capsule, {
      ...capsule.status,
      observedGeneration: generation,
      conditions: progressing(
        capsule.status?.conditions as Condition[],
        "Progressing",
        `publishing revision ${revision.slice(0, 19)}`,
        generation,
      ),
    });
    await this.abortStaleUploads(dest, log);

    const key = `${dest.folder}${gathered.digest.slice(0, 16)}-${randomBytes(6).toString("hex")}.qcap`;
    log.info("upload started", { key, files: gathered.inputs.length, revision });
    const sink = s3Sink({
      client: dest.client,
      bucket: dest.loc.bucket,
      key,
      metadata: { "qcap-revision": revision },
      onProgress: (loaded) => this.d.onUploadProgress?.(key, loaded),
      signal,
    });
    const started = Date.now();
    const result = await destinationCall("upload the capsule", () =>
      pack(gathered.inputs, sink, {
        signingKey: gathered.signingKey,
        recipients: gathered.recipients,
        hideNames: capsule.spec.hideNames === true,
      }),
    );
    const sha = sink.sha256();
    if (!(await this.exists(dest, key, result.size))) {
      throw new ReconcileError("UploadFailed", `the uploaded object ${key} is missing or has the wrong size`);
    }
    this.d.metrics.bytesPublished.inc(result.size);
    log.info("upload completed", {
      key,
      bytes: result.size,
      ms: Date.now() - started,
      root: result.manifest.root,
    });

    const entry: RegistryEntry = {
      namespace,
      name,
      revision,
      root: result.manifest.root,
      size: result.size,
      digest: `sha256:${sha}`,
      url: objectUrl({ ...dest.target, prefix: dest.loc.prefix }, key),
      key,
      issuer: result.manifest.issuer,
      sealed: result.manifest.seal !== null,
      updated: now(),
      ...(current && current.key !== key ? { previousKey: current.key } : {}),
    };
    // The registry's revocation list exists (and is this issuer's) before any grant can be minted.
    await destinationCall("publish the revocation list", () =>
      ensureRevocations(dest.loc, gathered.signingKey, null),
    );
    // The artifact is complete: only now does the registry point at it.
    const previous = await destinationCall("update the registry", () =>
      updateEntry(dest.loc, namespace, name, entry),
    );
    const artifact = artifactOf(entry);
    this.d.metrics.publishes.inc();
    await this.kind.writeStatus(capsule, {
      observedGeneration: generation,
      inputsDigest: revision,
      artifact,
      conditions: ready(
        capsule.status?.conditions as Condition[],
        "Succeeded",
        readyMessage(artifact) + admissionNote(await this.admission.state("capsules")),
        generation,
      ),
    });
    await this.kind.event(
      capsule,
      "Normal",
      "Published",
      `published revision ${revision.slice(0, 19)}… root ${entry.root} (${entry.size} bytes) at ${entry.url}`,
    );
    // Keep the previous artifact for readers that fetched the old index a moment ago.
    await this.collectGarbage(dest, [key, ...(previous ? [previous.key] : [])], log);
  }

  private async exists(dest: Destination, key: string, size: number): Promise<boolean> {
    try {
      const head = await dest.client.send(new HeadObjectCommand({ Bucket: dest.loc.bucket, Key: key }));
      return Number(head.ContentLength) === size;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "NotFound" || e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404)
        return false;
      throw classify(err, "check the artifact");
    }
  }

  /** Multipart uploads left by a process killed mid-upload (only the leader uploads, one per capsule). */
  private async abortStaleUploads(dest: Destination, log: Logger) {
    let res: { Uploads?: { Key?: string; UploadId?: string }[] };
    try {
      res = await dest.client.send(
        new ListMultipartUploadsCommand({ Bucket: dest.loc.bucket, Prefix: dest.folder }),
      );
    } catch (err) {
      throw classify(err, "list uploads");
    }
    for (const u of res.Uploads ?? []) {
      if (!u.Key || !u.UploadId || !u.Key.startsWith(dest.folder)) continue;
      await dest.client
        .send(new AbortMultipartUploadCommand({ Bucket: dest.loc.bucket, Key: u.Key, UploadId: u.UploadId }))
        .then(() => log.info("aborted an interrupted upload", { key: u.Key }))
        .catch((err) =>
          log.warn("cannot abort an interrupted upload", { key: u.Key, error: s3ErrorMessage(err) }),
        );
    }
  }

  /** Deletes the artifacts of this capsule other than `keep` (e.g. uploads that completed but were never indexed). */
  private async collectGarbage(dest: Destination, keep: string[], log: Logger) {
    const stale = (await this.listFolder(dest)).filter((k) => !keep.includes(k));
    if (stale.length === 0) return;
    await dest.client.send(
      new DeleteObjectsCommand({
        Bucket: dest.loc.bucket,
        Delete: { Objects: stale.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    log.info("removed unreferenced artifacts", { keys: stale });
  }

  private async listFolder(dest: Destination): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await dest.client.send(
        new ListObjectsV2Command({ Bucket: dest.loc.bucket, Prefix: dest.folder, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  private async finalize(capsule: CapsuleObject, log: Logger, signal?: AbortSignal) {
    const { namespace, name } = capsule.metadata;
    if (!this.kind.hasFinalizer(capsule)) return;
    // Only what this Capsule published (its status points at it): a Capsule that was never allowed to
    // publish through its publisher cannot make the operator delete anything there.
    if ((capsule.spec.deletionPolicy ?? "Retain") === "Delete" && capsule.status?.artifact) {
      const { dest } = await this.publishing(capsule, signal);
      await destinationCall("delete the artifacts", async () => {
        await updateEntry(dest.loc, namespace, name, null);
        await this.abortStaleUploads(dest, log);
        await this.collectGarbage(dest, [], log);
      });
      await this.kind.event(
        capsule,
        "Normal",
        "Deleted",
        "deleted the published artifacts and the registry entry",
      );
    }
    await this.kind.removeFinalizer(capsule);
    log.info("finalized", { deletionPolicy: capsule.spec.deletionPolicy ?? "Retain" });
  }
}

function artifactOf(e: RegistryEntry): Artifact {
  return {
    url: e.url,
    key: e.key,
    revision: e.revision,
    root: e.root,
    digest: e.digest,
    size: e.size,
    lastUpdateTime: e.updated,
  };
}

const readyMessage = (a: Artifact) => `published revision ${a.revision.slice(0, 19)}… root ${a.root}`;
