/**
 * At most `limit` reconciles at a time talk to one destination (endpoint + bucket), so Capsules that
 * point at a dead or slow endpoint cannot occupy every worker while others wait. A reconcile that
 * finds its destination full does not wait (that would hold the worker): it is put back in the queue
 * and woken as soon as a slot frees.
 */
export class DestinationLimiter {
  private readonly busy = new Map<string, number>();
  private readonly waiting = new Map<string, Set<string>>();

  constructor(
    readonly limit: number,
    /** Puts a waiting object's key back in the work queue. */
    private readonly wake: (key: string) => void = () => {},
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error("the per-destination limit must be >= 1");
  }

  static destinationKey(endpoint: string | undefined, bucket: string): string {
    return `${(endpoint ?? "aws").replace(/\/+$/, "")}|${bucket}`;
  }

  /** A release function, or undefined when the destination is full (`key` is then woken later). */
  tryAcquire(destination: string, key: string): (() => void) | undefined {
    const n = this.busy.get(destination) ?? 0;
    if (n >= this.limit) {
      const w = this.waiting.get(destination) ?? new Set<string>();
      w.add(key);
      this.waiting.set(destination, w);
      return undefined;
    }
    this.busy.set(destination, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.busy.get(destination) ?? 1) - 1;
      if (left > 0) this.busy.set(destination, left);
      else this.busy.delete(destination);
      const w = this.waiting.get(destination);
      const next = w?.values().next();
      if (w && next && !next.done) {
        w.delete(next.value);
        if (w.size === 0) this.waiting.delete(destination);
        this.wake(next.value);
      }
    };
  }

  /** Reconciles talking to `destination` now (for metrics and tests). */
  inUse(destination: string): number {
    return this.busy.get(destination) ?? 0;
  }
}
