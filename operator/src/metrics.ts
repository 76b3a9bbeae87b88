/** Prometheus metrics of the operator. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: "qcap_operator_reconcile_total",
    help: "Reconciles by kind and result (success, error, requeue).",
    labelNames: ["kind", "result"] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: "qcap_operator_reconcile_errors_total",
    help: "Reconciles that ended in an error, by kind and reason.",
    labelNames: ["kind", "reason"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "qcap_operator_reconcile_duration_seconds",
    help: "Time spent in one reconcile.",
    labelNames: ["kind"] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
  });
  readonly bytesPublished = this.counter(
    "qcap_operator_published_bytes_total",
    "Bytes of capsules uploaded.",
  );
  readonly publishes = this.counter("qcap_operator_publish_total", "Capsule revisions published.");
  readonly grants = this.counter("qcap_operator_grants_minted_total", "Grants minted.");
  readonly revocations = this.counter(
    "qcap_operator_revocations_total",
    "Token ids added to a revocation list.",
  );
  readonly leader = new Gauge({
    name: "qcap_operator_leader",
    help: "1 while this process holds the leader lease.",
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "qcap_operator_workqueue_depth",
    help: "Keys waiting in the work queue.",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "qcap_operator_" });
  }

  /** A counter without labels in this registry. */
  private counter(name: string, help: string) {
    return new Counter({ name, help, registers: [this.registry] });
  }
}
