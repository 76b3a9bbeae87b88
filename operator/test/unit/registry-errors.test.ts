/** The registry's own failures (shared with the CLI) as reconcile conditions. */
import { RegistryError } from "@qcap/core/registry";
import { describe, expect, it } from "vitest";
import { classify } from "../../src/reconcile-errors.js";

describe("registry errors as conditions", () => {
  it("retries conflicts and stalls on destinations that cannot hold a registry", () => {
    const conflict = classify(
      new RegistryError("conflict", "index.json kept changing"),
      "update the registry",
    );
    expect([conflict.reason, conflict.permanent]).toEqual(["RegistryConflict", false]);
    const unconditional = classify(new RegistryError("unconditional-server", "ignores If-Match"));
    expect([unconditional.reason, unconditional.permanent]).toEqual(["ConditionalWritesUnsupported", true]);
    const other = classify(new RegistryError("not-a-registry", "not a registry"));
    expect([other.reason, other.permanent, other.message]).toEqual(["NotARegistry", true, "not a registry"]);
  });
});
