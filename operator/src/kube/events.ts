/** Kubernetes Events (core/v1) about the objects the operator reconciles. Messages never hold secrets. */
import { randomBytes } from "node:crypto";
import type { Logger } from "../log.js";
import { errorMessage, redact } from "../log.js";
import { type KubeClient, paths } from "./client.js";

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string };
}

export class EventRecorder {
  constructor(
    private readonly kube: KubeClient,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  async record(obj: InvolvedObject, type: "Normal" | "Warning", reason: string, message: string) {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    const { name, namespace, uid, resourceVersion } = obj.metadata;
    try {
      await this.kube.create(paths.event(namespace), {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: `${name}.${Date.now().toString(16)}${randomBytes(4).toString("hex")}`, namespace },
        involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name, namespace, uid, resourceVersion },
        type,
        reason,
        message: redact(message).slice(0, 1024),
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (err) {
      this.log.warn("cannot record an event", {
        object: `${namespace}/${name}`,
        reason,
        error: errorMessage(err),
      });
    }
  }
}
