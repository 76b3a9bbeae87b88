/**
 * What the Capsule and CapabilityGrant reconcilers do alike with their own objects: read them,
 * hold and release their finalizer, write their status through the status subresource, record
 * events about them, and report a failed reconcile (kstatus conditions, metric, log, event).
 */
import { API_VERSION, type ObjectMeta } from "./api/common.js";
import { isNotFound, type KubeClient } from "./kube/client.js";
import {
  type Condition,
  getCondition,
  progressing,
  READY,
  type ReconcileError,
  retrying,
  stalled,
} from "./kube/conditions.js";
import type { EventRecorder } from "./kube/events.js";
import { errorMessage, type Logger } from "./log.js";
import type { Metrics } from "./metrics.js";

/** The status fields every reconciled kind has. */
export interface CommonStatus {
  observedGeneration?: number;
  conditions?: unknown[];
}

export interface ReconciledObject {
  metadata: ObjectMeta;
  status?: CommonStatus;
}

type StatusOf<T extends ReconciledObject> = NonNullable<T["status"]>;

export interface ReconciledKindOptions {
  kube: KubeClient;
  events: EventRecorder;
  metrics: Metrics;
  /** The kind as events and metrics name it. */
  kind: string;
  /** API path of an object of this kind (the collection when `name` is omitted). */
  path: (namespace?: string, name?: string) => string;
  finalizer: string;
}

export class ReconciledKind<T extends ReconciledObject> {
  constructor(private readonly o: ReconciledKindOptions) {}

  /** The object, or undefined when it is gone. */
  async get(namespace: string, name: string): Promise<T | undefined> {
    try {
      return await this.o.kube.get<T>(this.o.path(namespace, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  hasFinalizer(obj: T): boolean {
    return obj.metadata.finalizers?.includes(this.o.finalizer) ?? false;
  }

  /** Adds the finalizer (guarded by the resourceVersion read); the update event brings the object back. */
  async addFinalizer(obj: T) {
    await this.patchFinalizers(obj, [...(obj.metadata.finalizers ?? []), this.o.finalizer]);
  }

  async removeFinalizer(obj: T) {
    await this.patchFinalizers(
      obj,
      (obj.metadata.finalizers ?? []).filter((f) => f !== this.o.finalizer),
    );
  }

  private async patchFinalizers(obj: T, finalizers: string[]) {
    const { namespace, name, resourceVersion } = obj.metadata;
    await this.o.kube.mergePatch(this.o.path(namespace, name), { metadata: { finalizers, resourceVersion } });
  }

  /** Writes the whole status through the status subresource and keeps what the server returned. */
  async writeStatus(obj: T, status: StatusOf<T>) {
    const { namespace, name } = obj.metadata;
    const written = await this.o.kube.mergePatch<T>(`${this.o.path(namespace, name)}/status`, { status });
    obj.status = written.status;
  }

  /** First pass of a generation: Ready=Unknown (if not set yet) and Reconciling=True, kstatus style. */
  async observe(obj: T) {
    const st: CommonStatus = obj.status ?? {};
    const gen = obj.metadata.generation;
    if (getCondition(st.conditions as Condition[], READY) && st.observedGeneration === gen) return;
    await this.writeStatus(obj, {
      ...st,
      observedGeneration: gen,
      conditions: progressing(
        st.conditions as Condition[],
        "Progressing",
        `reconciling generation ${gen}`,
        gen,
      ),
    } as StatusOf<T>);
  }

  async event(obj: T, type: "Normal" | "Warning", reason: string, message: string) {
    await this.o.events.record({ ...obj, apiVersion: API_VERSION, kind: this.o.kind }, type, reason, message);
  }

  /**
   * Ready=False with Stalled (permanent) or Reconciling (retrying), the error metric and a log line;
   * an event only when the reason or message changed, so retries do not flood the object's events.
   * A status that cannot be written is logged: the error itself is what the caller acts on.
   */
  async reportFailure(obj: T, e: ReconcileError, log: Logger) {
    const gen = obj.metadata.generation;
    const list = obj.status?.conditions as Condition[];
    const before = getCondition(list, READY);
    const conditions = e.permanent
      ? stalled(list, e.reason, e.message, gen)
      : retrying(list, e.reason, e.message, gen);
    log.warn("reconcile failed", { reason: e.reason, error: e.message, permanent: e.permanent });
    this.o.metrics.errors.inc({ kind: this.o.kind, reason: e.reason });
    try {
      await this.writeStatus(obj, { ...obj.status, observedGeneration: gen, conditions } as StatusOf<T>);
    } catch (err) {
      log.warn("cannot write the status", { error: errorMessage(err) });
    }
    if (before?.reason !== e.reason || before?.message !== e.message) {
      await this.event(obj, "Warning", e.reason, e.message);
    }
  }
}
