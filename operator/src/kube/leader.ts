/**
 * Leader election with a coordination.k8s.io/v1 Lease, as client-go does it: a candidate takes the
 * Lease when it is free or its holder has not renewed it for leaseDuration (measured on this process's
 * clock from when it last saw the record change, so clocks need not agree), the leader renews it every
 * retry period, and a leader that cannot renew within renewDeadline stops acting. Writes use the
 * resourceVersion, so two candidates can never both win the same round.
 */
import type { Logger } from "../log.js";
import { errorMessage } from "../log.js";
import {
  isAlreadyExists,
  isConflict,
  isNotFound,
  type KubeClient,
  type KubeObject,
  paths,
} from "./client.js";

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

export class LeaderElector {
  private observed: { record: string; at: number } | null = null;
  private leading = false;
  private attempt: Promise<boolean> | null = null;
  private readonly abort = new AbortController();

  constructor(
    private readonly kube: KubeClient,
    private readonly opts: LeaderOptions,
    private readonly log: Logger,
  ) {}

  isLeader() {
    return this.leading;
  }

  /**
   * Campaigns until elected, calls `onStarted`, then renews until it fails or `stop()` is called; calls
   * `onStopped` when leadership is lost (not on a voluntary stop).
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.opts;
    while (!this.abort.signal.aborted && !this.leading) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        this.log.info("became leader", {
          lease: `${this.opts.namespace}/${this.opts.name}`,
          identity: this.opts.identity,
        });
        onStarted();
        break;
      }
      await sleep(retryPeriodMs, this.abort.signal);
    }
    let lastRenew = Date.now();
    while (!this.abort.signal.aborted && this.leading) {
      await sleep(retryPeriodMs, this.abort.signal);
      if (this.abort.signal.aborted) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > renewDeadlineMs) {
        this.leading = false;
        this.log.error("lost leadership", { lease: `${this.opts.namespace}/${this.opts.name}` });
        onStopped();
      }
    }
  }

  /** One round at a time, so that `stop()` can wait for a renewal in flight before it releases. */
  private tryAcquireOrRenew(): Promise<boolean> {
    this.attempt = this.acquireOrRenew().finally(() => {
      this.attempt = null;
    });
    return this.attempt;
  }

  private async acquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationMs } = this.opts;
    const now = new Date();
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.max(1, Math.round(leaseDurationMs / 1000)),
      renewTime: microTime(now),
    };
    let lease: Lease;
    try {
      lease = await this.kube.get<Lease>(paths.lease(namespace, name));
    } catch (err) {
      if (!isNotFound(err)) {
        this.log.warn("cannot read the leader lease", { error: errorMessage(err) });
        return false;
      }
      try {
        await this.kube.create(paths.lease(namespace), {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      } catch (e) {
        if (!isAlreadyExists(e)) this.log.warn("cannot create the leader lease", { error: errorMessage(e) });
        return false;
      }
    }
    const s = lease.spec ?? {};
    const record = JSON.stringify([s.holderIdentity, s.renewTime, s.acquireTime, s.leaseDurationSeconds]);
    if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
    const held = Boolean(s.holderIdentity);
    const mine = s.holderIdentity === identity;
    const durationMs = (s.leaseDurationSeconds ?? 0) * 1000;
    if (held && !mine && Date.now() - this.observed.at < durationMs) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...s,
        ...spec,
        acquireTime: mine ? s.acquireTime : microTime(now),
        leaseTransitions: (s.leaseTransitions ?? 0) + (mine ? 0 : 1),
      },
    };
    try {
      const written = await this.kube.replace<Lease>(paths.lease(namespace, name), next);
      const w = written.spec ?? {};
      this.observed = {
        record: JSON.stringify([w.holderIdentity, w.renewTime, w.acquireTime, w.leaseDurationSeconds]),
        at: Date.now(),
      };
      return true;
    } catch (err) {
      if (!isConflict(err)) this.log.warn("cannot update the leader lease", { error: errorMessage(err) });
      return false;
    }
  }

  /** Stops campaigning or renewing; a leader gives the Lease up so a standby can take over at once. */
  async stop(): Promise<void> {
    this.abort.abort();
    // A renewal still in flight would otherwise land after the release, or make it conflict.
    await this.attempt;
    if (!this.leading) return;
    this.leading = false;
    const { namespace, name, identity } = this.opts;
    for (let round = 0; round < 3; round++) {
      try {
        const lease = await this.kube.get<Lease>(paths.lease(namespace, name));
        if (lease.spec?.holderIdentity !== identity) return;
        await this.kube.replace(paths.lease(namespace, name), {
          ...lease,
          spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime() },
        });
        this.log.info("released the leader lease");
        return;
      } catch (err) {
        if (isConflict(err)) continue;
        this.log.warn("cannot release the leader lease", { error: errorMessage(err) });
        return;
      }
    }
    this.log.warn("cannot release the leader lease", { error: "the lease kept changing" });
  }
}
