// The per-destination limiter in the publisher model (fake API client): Capsules are counted against
// the endpoint and bucket their publisher names, whichever publisher and namespace they come from, and
// a Capsule whose destination is full is requeued before anything else is read or checked.
import { describe, expect, it } from "vitest";
import { capsulePath, clusterPublisherPath, publisherPath } from "../../src/api/paths.js";
import type { PublisherObject } from "../../src/api/publisher.js";
import { CapsuleReconciler } from "../../src/capsule/reconciler.js";
import { type KubeClient, KubeError } from "../../src/kube/client.js";
import type { EventRecorder } from "../../src/kube/events.js";
import { createLogger } from "../../src/log.js";
import type { Metrics } from "../../src/metrics.js";
import { DestinationLimiter } from "../../src/s3/destination-limit.js";

const publisher = (namespace: string, name: string, endpoint: string, bucket: string): PublisherObject => ({
  apiVersion: "qcap.dev/v1alpha1",
  kind: "Publisher",
  metadata: { namespace, name },
  spec: {
    signingKeySecretRef: { name: "k" },
    destination: { endpoint, bucket, credentialsSecretRef: { name: "c" } },
  },
});

const capsule = (namespace: string, name: string, publisherRef: { kind?: string; name: string }) => ({
  apiVersion: "qcap.dev/v1alpha1",
  kind: "Capsule",
  metadata: { namespace, name, generation: 1, finalizers: ["qcap.dev/finalizer"] },
  spec: { publisherRef, sources: [{ inline: { "a.txt": "a" } }] },
});

function setup(objects: Record<string, unknown>, cached: PublisherObject[] = []) {
  const paths: string[] = [];
  const kube = {
    get: async (path: string) => {
      paths.push(path);
      if (path in objects) return objects[path];
      throw new KubeError(404, "NotFound", `${path} not found`);
    },
  } as unknown as KubeClient;
  const woken: string[] = [];
  const limiter = new DestinationLimiter(1, (key) => woken.push(key));
  const reconciler = new CapsuleReconciler({
    kube,
    events: {} as EventRecorder,
    log: createLogger("error", {}, () => {}),
    metrics: {} as Metrics,
    limiter,
    cachedPublisher: (ns, name) =>
      cached.find((p) => p.metadata.namespace === ns && p.metadata.name === name),
  });
  return { reconciler, limiter, paths, woken };
}

describe("the per-destination limit with publishers", () => {
  it("counts Capsules of different publishers and namespaces against the endpoint and bucket they name", async () => {
    const dead = publisher("tenant-a", "dead", "http://10.0.0.9:9000/", "shared");
    const alias = publisher("tenant-c", "alias", "http://10.0.0.9:9000", "shared");
    const f = setup(
      {
        [capsulePath("tenant-a", "one")]: capsule("tenant-a", "one", { name: "dead" }),
        [capsulePath("tenant-c", "two")]: capsule("tenant-c", "two", { name: "alias" }),
        [publisherPath("tenant-c", "alias")]: alias,
      },
      [dead],
    );
    // A reconcile at that destination is under way.
    const release = f.limiter.tryAcquire(
      DestinationLimiter.destinationKey("http://10.0.0.9:9000", "shared"),
      "tenant-a/zero",
    );
    expect(release).toBeDefined();
    expect(await f.reconciler.reconcile("tenant-a", "one")).toEqual({ requeueAfterMs: 30_000 });
    expect(await f.reconciler.reconcile("tenant-c", "two")).toEqual({ requeueAfterMs: 30_000 });
    // Nothing but the Capsules and the uncached Publisher was read: no access review, no Secret.
    expect(f.paths).toEqual([
      capsulePath("tenant-a", "one"),
      capsulePath("tenant-c", "two"),
      publisherPath("tenant-c", "alias"),
    ]);
    // A freed slot wakes one of them at once.
    release?.();
    expect(f.woken).toHaveLength(1);
    expect(["tenant-a/one", "tenant-c/two"]).toContain(f.woken[0]);
  });

  it("a publisher that cannot be read is its own destination: it neither blocks nor is blocked by others", async () => {
    const f = setup({
      [capsulePath("tenant-b", "lost")]: capsule("tenant-b", "lost", {
        kind: "ClusterPublisher",
        name: "gone",
      }),
    });
    f.limiter.tryAcquire(DestinationLimiter.destinationKey("http://10.0.0.9:9000", "shared"), "x/y");
    const held = f.limiter.tryAcquire('publisher|ClusterPublisher "gone"', "x/z");
    expect(held).toBeDefined();
    expect(await f.reconciler.reconcile("tenant-b", "lost")).toEqual({ requeueAfterMs: 30_000 });
    expect(f.paths).toEqual([capsulePath("tenant-b", "lost"), clusterPublisherPath("gone")]);
  });
});
