/**
 * Wiring of the operator: informers feed work queues (one per kind), workers call the reconcilers,
 * and everything starts only once this process is the elected leader.
 */
import type { CapsuleObject } from "./api/capsule.js";
import type { GrantObject } from "./api/grant.js";
import { capsulePath, publisherPath } from "./api/paths.js";
import type { PublisherObject } from "./api/publisher.js";
import { CapsuleReconciler } from "./capsule/reconciler.js";
import { GRANT_SECRET_LABEL } from "./controller-labels.js";
import type { KubeClient, KubeObject } from "./kube/client.js";
import { paths } from "./kube/client.js";
import type { EventRecorder } from "./kube/events.js";
import { InformerSet } from "./kube/informer.js";
import { type Outcome, WorkQueue } from "./kube/queue.js";
import { errorMessage, type Logger } from "./log.js";
import type { Metrics } from "./metrics.js";
import { DestinationLimiter } from "./s3/destination-limit.js";
import type { HttpSourceOptions } from "./sources/http.js";

export interface ControllerOptions {
  namespaces: string[] | null;
  workers: number;
  resyncMs: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** Capsule reconciles at once per destination (endpoint + bucket); default: all workers but one, at least 1. */
  perDestination?: number;
  /** Egress policy and limits of HTTP sources. */
  httpSources?: HttpSourceOptions;
  defaultServiceAccount?: string;
  clusterResourceNamespace?: string;
}

/** Reconciles one kind: `reconcile(namespace, name)` converges the world on the object. */
export interface Reconciler {
  reconcile(namespace: string, name: string): Promise<Outcome | undefined>;
}

interface ConfigMapLike extends KubeObject {
  data?: Record<string, string>;
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
const splitKey = (k: string) => {
  const i = k.indexOf("/");
  return [k.slice(0, i), k.slice(i + 1)] as const;
};

/** The ConfigMaps and Secrets a Capsule reads, to reconcile it when one of them changes. */
function referencedConfigMaps(c: CapsuleObject): string[] {
  const out: string[] = [];
  for (const s of c.spec.sources ?? []) if (s.configMap) out.push(s.configMap.name);
  for (const r of c.spec.recipients ?? []) if (r.configMapKeyRef) out.push(r.configMapKeyRef.name);
  return out;
}

export class Controller {
  private readonly capsules: InformerSet<CapsuleObject & KubeObject>;
  private readonly configMaps: InformerSet<ConfigMapLike>;
  private readonly publishers: InformerSet<PublisherObject & KubeObject>;
  private readonly capsuleQueue: WorkQueue;
  private readonly grantQueue: WorkQueue;
  readonly grants: InformerSet<GrantObject & KubeObject>;
  private readonly grantSecrets: InformerSet<KubeObject>;
  private resync: NodeJS.Timeout | null = null;
  private started = false;
  grantReconciler: Reconciler | null = null;
  readonly capsuleReconciler: CapsuleReconciler;

  constructor(
    kube: KubeClient,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    events: EventRecorder,
    private readonly opts: ControllerOptions,
  ) {
    const ns = opts.namespaces;
    this.capsules = new InformerSet(kube, (n) => capsulePath(n), ns, log);
    this.grants = new InformerSet(
      kube,
      (n) => paths.namespaced("qcap.dev", "v1alpha1", "capabilitygrants", n),
      ns,
      log,
    );
    this.configMaps = new InformerSet(kube, (n) => paths.configMap(n ?? ""), ns, log);
    this.publishers = new InformerSet(kube, (n) => publisherPath(n), ns, log);
    // Only the grant Secrets the operator manages: a label selector keeps other Secrets out of memory.
    this.grantSecrets = new InformerSet(
      kube,
      (n) => (n ? paths.secret(n) : "/api/v1/secrets"),
      ns,
      log,
      `${GRANT_SECRET_LABEL}=qcap-operator`,
    );
    const q = { baseDelayMs: opts.baseBackoffMs, maxDelayMs: opts.maxBackoffMs };
    this.capsuleQueue = new WorkQueue({
      ...q,
      onDepth: (d) => metrics.queueDepth.set({ kind: "Capsule" }, d),
    });
    this.grantQueue = new WorkQueue({
      ...q,
      onDepth: (d) => metrics.queueDepth.set({ kind: "CapabilityGrant" }, d),
    });
    const limiter = new DestinationLimiter(opts.perDestination ?? Math.max(1, opts.workers - 1), (key) =>
      this.capsuleQueue.add(key),
    );
    this.capsuleReconciler = new CapsuleReconciler({
      kube,
      events,
      log,
      metrics,
      limiter,
      cachedPublisher: (ns, name) => this.publishers.get(ns, name),
      httpSources: opts.httpSources,
      defaultServiceAccount: opts.defaultServiceAccount,
      clusterResourceNamespace: opts.clusterResourceNamespace,
    });
  }

  hasSynced() {
    return (
      this.started &&
      this.capsules.hasSynced() &&
      this.grants.hasSynced() &&
      this.configMaps.hasSynced() &&
      this.publishers.hasSynced()
    );
  }

  /** Adds the grants of a capsule to the grant queue (its revision changed). */
  enqueueGrantsOf(namespace: string, capsule: string) {
    for (const g of this.grants.list()) {
      if (g.metadata.namespace === namespace && g.spec.capsuleRef?.name === capsule)
        this.grantQueue.add(keyOf(g));
    }
  }

  async start() {
    const addCapsule = (o: CapsuleObject & KubeObject) => this.capsuleQueue.add(keyOf(o));
    this.capsules.on("add", addCapsule);
    this.capsules.on("update", (o, old) => {
      // Status-only updates (our own writes) do not need a reconcile, except when the revision changed.
      const specChanged = o.metadata.generation !== old?.metadata.generation;
      const metaChanged =
        o.metadata.deletionTimestamp !== old?.metadata.deletionTimestamp ||
        JSON.stringify(o.metadata.finalizers) !== JSON.stringify(old?.metadata.finalizers);
      if (specChanged || metaChanged || !old) addCapsule(o);
      if (o.status?.artifact?.root !== old?.status?.artifact?.root)
        this.enqueueGrantsOf(o.metadata.namespace, o.metadata.name);
    });
    this.capsules.on("delete", (o) => this.enqueueGrantsOf(o.metadata.namespace, o.metadata.name));

    const addGrant = (o: GrantObject & KubeObject) => this.grantQueue.add(keyOf(o));
    this.grants.on("add", addGrant);
    this.grants.on("update", (o, old) => {
      if (
        o.metadata.generation !== old?.metadata.generation ||
        o.metadata.deletionTimestamp !== old?.metadata.deletionTimestamp ||
        JSON.stringify(o.metadata.finalizers) !== JSON.stringify(old?.metadata.finalizers)
      )
        addGrant(o);
    });

    const configMapChanged = (cm: ConfigMapLike) => {
      for (const c of this.capsules.list()) {
        if (
          c.metadata.namespace === cm.metadata.namespace &&
          referencedConfigMaps(c).includes(cm.metadata.name)
        )
          addCapsule(c);
      }
    };
    this.configMaps.on("update", (cm, old) => {
      if (JSON.stringify(cm.data) !== JSON.stringify(old?.data) || !old) configMapChanged(cm);
    });
    this.configMaps.on("add", configMapChanged);
    this.configMaps.on("delete", configMapChanged);

    // A changed Publisher (destination, key, policy) applies to its Capsules at once.
    const publisherChanged = (p: PublisherObject & KubeObject) => {
      for (const c of this.capsules.list()) {
        const ref = c.spec.publisherRef;
        if (
          c.metadata.namespace === p.metadata.namespace &&
          (ref?.kind ?? "Publisher") === "Publisher" &&
          ref?.name === p.metadata.name
        )
          addCapsule(c);
      }
    };
    this.publishers.on("update", (p, old) => {
      if (p.metadata.generation !== old?.metadata.generation || !old) publisherChanged(p);
    });
    this.publishers.on("add", publisherChanged);

    // A grant Secret edited or deleted by someone else is put back by its grant's reconcile.
    const secretChanged = (s: KubeObject) => {
      const owner = s.metadata.ownerReferences?.find((r) => r.kind === "CapabilityGrant");
      if (owner) this.grantQueue.add(`${s.metadata.namespace}/${owner.name}`);
    };
    this.grantSecrets.on("update", secretChanged);
    this.grantSecrets.on("delete", secretChanged);

    await Promise.all([
      this.capsules.start(),
      this.grants.start(),
      this.configMaps.start(),
      this.publishers.start(),
      this.grantSecrets.start(),
    ]);
    await Promise.all([
      this.capsules.synced,
      this.grants.synced,
      this.configMaps.synced,
      this.publishers.synced,
      this.grantSecrets.synced,
    ]);
    this.started = true;
    this.log.info("caches synced", { namespaces: this.opts.namespaces ?? "all" });

    this.run(this.capsuleQueue, "Capsule", (ns, name) => this.capsuleReconciler.reconcile(ns, name));
    this.run(this.grantQueue, "CapabilityGrant", async (ns, name) => {
      if (!this.grantReconciler) return undefined;
      return this.grantReconciler.reconcile(ns, name);
    });
    // Periodic resync: every object is reconciled again even if no event arrived.
    this.resync = setInterval(() => {
      for (const c of this.capsules.list()) this.capsuleQueue.add(keyOf(c));
      for (const g of this.grants.list()) this.grantQueue.add(keyOf(g));
    }, this.opts.resyncMs);
    this.resync.unref();
  }

  private run(
    queue: WorkQueue,
    kind: string,
    fn: (ns: string, name: string) => Promise<Outcome | undefined>,
  ) {
    queue.run(
      this.opts.workers,
      async (key) => {
        const [ns, name] = splitKey(key);
        const end = this.metrics.duration.startTimer({ kind });
        try {
          const out = await fn(ns, name);
          this.metrics.reconciles.inc({ kind, result: "success" });
          return out;
        } catch (err) {
          this.metrics.reconciles.inc({ kind, result: "error" });
          throw err;
        } finally {
          end();
        }
      },
      (key, err, retryInMs) => {
        this.log.warn("reconcile error; retrying", {
          kind,
          object: key,
          error: errorMessage(err),
          retryInMs,
        });
      },
    );
  }

  async stop() {
    if (this.resync) clearInterval(this.resync);
    await Promise.all([this.capsuleQueue.shutdown(), this.grantQueue.shutdown()]);
    await Promise.all([
      this.capsules.stop(),
      this.grants.stop(),
      this.configMaps.stop(),
      this.publishers.stop(),
      this.grantSecrets.stop(),
    ]);
  }
}
