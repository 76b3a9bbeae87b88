// Whether the admission policies are in force, as the operator tells it (fake API client).
import { describe, expect, it } from "vitest";
import type { KubeClient } from "../../src/kube/client.js";
import { KubeError } from "../../src/kube/client.js";
import { AdmissionPolicyProbe, admissionNote } from "../../src/tenancy/admission.js";

function fakeKube(answer: (path: string) => unknown) {
  const paths: string[] = [];
  const kube = {
    get: async (path: string) => {
      paths.push(path);
      const a = answer(path);
      if (a instanceof Error) throw a;
      return a;
    },
  } as unknown as KubeClient;
  return { kube, paths };
}

describe("admission policy probe", () => {
  it("looks for a binding labelled for the kind, and caches the answer", async () => {
    const f = fakeKube(() => ({ items: [{}] }));
    const probe = new AdmissionPolicyProbe(f.kube);
    expect(await probe.state("capsules")).toBe("enforced");
    expect(await probe.state("capsules")).toBe("enforced");
    expect(f.paths).toEqual([
      "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings?labelSelector=qcap.dev%2Fenforces%3Dcapsules&limit=1",
    ]);
    expect(admissionNote("enforced")).toBe("");
  });

  it("absent when none is installed, unknown when it may not look; the note says so", async () => {
    expect(await new AdmissionPolicyProbe(fakeKube(() => ({ items: [] })).kube).state("grants")).toBe(
      "absent",
    );
    const forbidden = fakeKube(() => new KubeError(403, "Forbidden", "forbidden"));
    expect(await new AdmissionPolicyProbe(forbidden.kube).state("grants")).toBe("unknown");
    expect(admissionNote("absent")).toContain("enforced by the operator only");
    expect(admissionNote("unknown")).toContain("cannot tell");
  });
});
