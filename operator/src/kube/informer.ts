/**
 * A shared informer over one resource (optionally one namespace): list, then watch, kept by
 * client-node's ListWatch, which relists when the watch's resource version has expired (410 Gone) and
 * re-opens the watch when the server closes it. Other watch errors restart it with back-off here.
 */
import { type KubernetesObject, ListWatch, Watch } from "@kubernetes/client-node";
import type { Logger } from "../log.js";
import { errorMessage } from "../log.js";
import type { KubeClient, KubeObject } from "./client.js";

export type Handler<T> = (obj: T, old?: T) => void;

export class Informer<T extends KubeObject> {
  private lw: ListWatch<KubernetesObject> | null = null;
  private handlers: { add: Handler<T>[]; update: Handler<T>[]; delete: Handler<T>[] } = {
    add: [],
    update: [],
    delete: [],
  };
  private resolveSynced!: () => void;
  readonly synced: Promise<void> = new Promise((r) => {
    this.resolveSynced = r;
  });
  private isSynced = false;
  private stopped = false;
  private restartDelay = 1000;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly kube: KubeClient,
    /** Collection path, e.g. /apis/qcap.dev/v1alpha1/capsules or …/namespaces/NS/capsules. */
    readonly path: string,
    private readonly log: Logger,
    private readonly labelSelector?: string,
  ) {}

  on(event: "add" | "update" | "delete", h: Handler<T>) {
    this.handlers[event].push(h);
  }

  hasSynced() {
    return this.isSynced;
  }

  async start() {
    const list = async () => {
      const q = this.labelSelector ? `?labelSelector=${encodeURIComponent(this.labelSelector)}` : "";
      const result = await this.kube.get<KubeObject & { items: T[] }>(`${this.path}${q}`);
      // ListWatch fills its cache right after this promise settles; mark synced after that.
      setImmediate(() => {
        this.restartDelay = 1000;
        if (!this.isSynced) {
          this.isSynced = true;
          this.resolveSynced();
        }
      });
      return result as never;
    };
    const lw = new ListWatch<KubernetesObject>(
      this.path,
      new Watch(this.kube.kc),
      list,
      false,
      this.labelSelector,
    );
    const versions = new Map<string, T>();
    const keyOf = (o: T) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    lw.on("add", (raw) => {
      const o = raw as unknown as T;
      versions.set(keyOf(o), o);
      for (const h of this.handlers.add) h(o);
    });
    lw.on("update", (raw) => {
      const o = raw as unknown as T;
      const old = versions.get(keyOf(o));
      versions.set(keyOf(o), o);
      for (const h of this.handlers.update) h(o, old);
    });
    lw.on("delete", (raw) => {
      const o = raw as unknown as T;
      versions.delete(keyOf(o));
      for (const h of this.handlers.delete) h(o);
    });
    lw.on("error", (err) => {
      if (this.stopped) return;
      this.log.warn("watch failed; restarting", {
        path: this.path,
        error: errorMessage(err),
        inMs: this.restartDelay,
      });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.stopped) void lw.start();
      }, this.restartDelay);
      this.restartDelay = Math.min(this.restartDelay * 2, 30_000);
    });
    this.lw = lw;
    await lw.start();
  }

  get(namespace: string, name: string): T | undefined {
    return this.lw?.get(name, namespace) as unknown as T | undefined;
  }

  list(): T[] {
    return (this.lw?.list() ?? []) as unknown as T[];
  }

  async stop() {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.lw?.stop();
  }
}

/** Informers over several namespaces (or all) seen as one cache. */
export class InformerSet<T extends KubeObject> {
  readonly informers: Informer<T>[];
  constructor(
    kube: KubeClient,
    pathFor: (namespace?: string) => string,
    namespaces: string[] | null,
    log: Logger,
    labelSelector?: string,
  ) {
    this.informers = (namespaces ?? [undefined]).map(
      (ns) => new Informer<T>(kube, pathFor(ns), log, labelSelector),
    );
  }
  on(event: "add" | "update" | "delete", h: Handler<T>) {
    for (const i of this.informers) i.on(event, h);
  }
  async start() {
    await Promise.all(this.informers.map((i) => i.start()));
  }
  get synced() {
    return Promise.all(this.informers.map((i) => i.synced)).then(() => undefined);
  }
  hasSynced() {
    return this.informers.every((i) => i.hasSynced());
  }
  get(namespace: string, name: string): T | undefined {
    for (const i of this.informers) {
      const o = i.get(namespace, name);
      if (o) return o;
    }
    return undefined;
  }
  list(): T[] {
    return this.informers.flatMap((i) => i.list());
  }
  async stop() {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
