/** CapabilityGrant reconciler (placeholder until the grant wiring is in place). */
import type { Controller } from "../controller.js";
import type { KubeClient } from "../kube/client.js";
import type { EventRecorder } from "../kube/events.js";
import type { Outcome } from "../kube/queue.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";

export interface GrantReconcilerDeps {
  kube: KubeClient;
  events: EventRecorder;
  log: Logger;
  metrics: Metrics;
  controller: Controller;
}

export class GrantReconciler {
  constructor(private readonly d: GrantReconcilerDeps) {}
  async reconcile(_namespace: string, _name: string): Promise<Outcome | undefined> {
    void this.d;
    return undefined;
  }
}
