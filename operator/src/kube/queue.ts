/**
 * A work queue in the style of client-go's: a key is never processed by two workers at once, a key
 * added while it is being processed is processed again afterwards (once), keys added several times
 * while waiting are processed once, and failures are retried with exponential back-off per key.
 */
export interface Outcome {
  /** Process the key again after this many milliseconds (a periodic re-check). */
  requeueAfterMs?: number;
}

export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private waiters: (() => void)[] = [];
  private shuttingDown = false;
  private workers: Promise<void>[] = [];
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly opts: QueueOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 300_000;
  }

  get depth() {
    return this.queue.length;
  }

  add(key: string) {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.opts.onDepth?.(this.queue.length);
    this.waiters.shift()?.();
  }

  /** Adds the key after `ms`, unless an earlier delayed add is already pending. */
  addAfter(key: string, ms: number) {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Back-off delay for the key's next retry (and counts the failure). */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.baseDelayMs * 2 ** n, this.maxDelayMs);
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string) {
    this.failures.delete(key);
  }

  private async next(): Promise<string | null> {
    while (!this.shuttingDown) {
      const key = this.queue.shift();
      if (key !== undefined) {
        this.queued.delete(key);
        this.opts.onDepth?.(this.queue.length);
        return key;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return null;
  }

  /** Starts `n` workers calling `handle`; a thrown error retries the key with back-off. */
  run(
    n: number,
    handle: (key: string) => Promise<Outcome | undefined>,
    onError: (key: string, err: unknown, retryInMs: number) => void,
  ) {
    for (let i = 0; i < n; i++) {
      this.workers.push(
        (async () => {
          for (;;) {
            const key = await this.next();
            if (key === null) return;
            this.processing.add(key);
            try {
              const outcome = await handle(key);
              this.forget(key);
              if (outcome?.requeueAfterMs !== undefined) this.addAfter(key, outcome.requeueAfterMs);
            } catch (err) {
              const delay = this.shuttingDown ? 0 : this.addRateLimited(key);
              onError(key, err, delay);
            } finally {
              this.processing.delete(key);
              if (this.dirty.delete(key)) this.add(key);
            }
          }
        })(),
      );
    }
  }

  /** Stops taking keys and waits for the keys being processed. */
  async shutdown() {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w();
    await Promise.all(this.workers);
  }
}
