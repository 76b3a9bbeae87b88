/**
 * A leader stopped while a renewal is in flight still releases the Lease. The in-memory API below keeps
 * resourceVersions as the API server does and lets the renewal land between the release's read and its
 * write: the interleaving that once left the Lease held until it expired.
 */
import { describe, expect, it } from "vitest";
import { type KubeClient, KubeError, type KubeObject } from "../../src/kube/client.js";
import { LeaderElector } from "../../src/kube/leader.js";
import { createLogger } from "../../src/log.js";

interface StoredLease extends KubeObject {
  spec?: { holderIdentity?: string | null };
}

class LeaseApi {
  lease: StoredLease | undefined;
  private version = 0;
  /** Set to hold the next write; a `get` meanwhile lets it land just after taking its snapshot. */
  holdNextWrite = false;
  private held: { land: () => void; landed: Promise<void> } | undefined;
  heldWrite: Promise<void> | undefined;
  private signalHeld: (() => void) | undefined;

  constructor() {
    this.heldWrite = new Promise((r) => {
      this.signalHeld = r;
    });
  }

  async get<T>(): Promise<T> {
    if (!this.lease) throw new KubeError(404, "NotFound", "not found");
    const snapshot = structuredClone(this.lease);
    const held = this.held;
    if (held) {
      this.held = undefined;
      held.land();
      await held.landed;
    }
    return snapshot as T;
  }

  async create<T>(_path: string, body: StoredLease): Promise<T> {
    if (this.lease) throw new KubeError(409, "AlreadyExists", "exists");
    this.lease = this.stamp(body);
    return structuredClone(this.lease) as T;
  }

  async replace<T>(_path: string, body: StoredLease): Promise<T> {
    if (this.holdNextWrite) {
      this.holdNextWrite = false;
      let land = () => {};
      const go = new Promise<void>((r) => {
        land = r;
      });
      let done = () => {};
      const landed = new Promise<void>((r) => {
        done = r;
      });
      this.held = { land, landed };
      this.signalHeld?.();
      // A write nobody races lands on its own a little later.
      const timer = setTimeout(land, 50);
      await go;
      clearTimeout(timer);
      try {
        return this.write<T>(body);
      } finally {
        done();
      }
    }
    return this.write<T>(body);
  }

  private write<T>(body: StoredLease): T {
    if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) {
      throw new KubeError(409, "Conflict", "the object has been modified");
    }
    this.lease = this.stamp(body);
    return structuredClone(this.lease) as T;
  }

  private stamp(body: StoredLease): StoredLease {
    return {
      ...structuredClone(body),
      metadata: { ...body.metadata, resourceVersion: String(++this.version) },
    };
  }
}

describe("leader release", () => {
  it("a stop during a renewal still gives the Lease up", async () => {
    const api = new LeaseApi();
    const lines: string[] = [];
    const elector = new LeaderElector(
      api as unknown as KubeClient,
      {
        namespace: "ns",
        name: "lease",
        identity: "me",
        leaseDurationMs: 60_000,
        renewDeadlineMs: 30_000,
        retryPeriodMs: 5,
      },
      createLogger("debug", {}, (l) => lines.push(l)),
    );
    let started!: () => void;
    const elected = new Promise<void>((r) => {
      started = r;
    });
    const running = elector.run(started, () => {});
    await elected;
    api.holdNextWrite = true;
    await api.heldWrite;
    await elector.stop();
    await running;
    expect(api.lease?.spec?.holderIdentity ?? null).toBeNull();
    expect(lines.some((l) => l.includes("released the leader lease"))).toBe(true);
  });
});
