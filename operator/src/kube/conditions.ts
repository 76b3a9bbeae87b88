/**
 * kstatus conditions: Ready, Reconciling, Stalled. Ready=Unknown on the first pass, Reconciling=True
 * while work is under way, Stalled=True only for errors that will not fix themselves; both are
 * removed once Ready=True.
 */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export const READY = "Ready";
export const RECONCILING = "Reconciling";
export const STALLED = "Stalled";

/** Sets (or replaces) one condition; the transition time changes only when the status does. */
export function setCondition(
  list: Condition[] | undefined,
  type: string,
  status: Condition["status"],
  reason: string,
  message: string,
  generation?: number,
): Condition[] {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const current = (list ?? []).find((c) => c.type === type);
  const next: Condition = {
    type,
    status,
    reason,
    message,
    lastTransitionTime: current && current.status === status ? current.lastTransitionTime : now,
    observedGeneration: generation,
  };
  return [...(list ?? []).filter((c) => c.type !== type), next].sort((a, b) => order(a.type) - order(b.type));
}

const order = (t: string) => [READY, RECONCILING, STALLED].indexOf(t) + 1 || 99;

export function removeCondition(list: Condition[] | undefined, type: string): Condition[] {
  return (list ?? []).filter((c) => c.type !== type);
}

export function getCondition(list: Condition[] | undefined, type: string): Condition | undefined {
  return (list ?? []).find((c) => c.type === type);
}

/** Work is under way: Reconciling=True, Ready=Unknown unless it already has a value. */
export function progressing(list: Condition[] | undefined, reason: string, message: string, gen?: number) {
  let out = setCondition(list, RECONCILING, "True", reason, message, gen);
  out = removeCondition(out, STALLED);
  if (!getCondition(out, READY)) out = setCondition(out, READY, "Unknown", reason, message, gen);
  return out;
}

export function ready(list: Condition[] | undefined, reason: string, message: string, gen?: number) {
  let out = setCondition(list, READY, "True", reason, message, gen);
  out = removeCondition(out, RECONCILING);
  return removeCondition(out, STALLED);
}

/** A failure that a retry may fix: Ready=False, Reconciling=True (retrying). */
export function retrying(list: Condition[] | undefined, reason: string, message: string, gen?: number) {
  let out = setCondition(list, READY, "False", reason, message, gen);
  out = setCondition(out, RECONCILING, "True", "RetryingAfterError", message, gen);
  return removeCondition(out, STALLED);
}

/** A failure that needs a change of spec or input: Ready=False, Stalled=True. */
export function stalled(list: Condition[] | undefined, reason: string, message: string, gen?: number) {
  let out = setCondition(list, READY, "False", reason, message, gen);
  out = setCondition(out, STALLED, "True", reason, message, gen);
  return removeCondition(out, RECONCILING);
}

/** Not reconciled on purpose (suspended, expired): Ready=False without Reconciling or Stalled. */
export function notReady(list: Condition[] | undefined, reason: string, message: string, gen?: number) {
  let out = setCondition(list, READY, "False", reason, message, gen);
  out = removeCondition(out, RECONCILING);
  return removeCondition(out, STALLED);
}

/** An error carrying the condition reason it should show. */
export class ReconcileError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    /** True when retrying cannot help until the spec or an input changes. */
    readonly permanent = false,
  ) {
    super(message);
    this.name = "ReconcileError";
  }
}
