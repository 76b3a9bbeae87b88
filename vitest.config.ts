import { defineConfig } from "vitest/config";
import { testenvProject } from "./testenv/vitest.mjs";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "core",
          include: ["core/test/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "action",
          include: ["action/test/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "operator",
          include: ["operator/test/unit/*.test.ts"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "bench",
          include: ["bench/test/*.test.ts"],
          testTimeout: 60_000,
        },
      },
      // Local control plane (kube-apiserver, S3, Fulcio, TSA): see testenv/README.md.
      testenvProject({ name: "e2e", include: ["testenv/test/**/*.test.ts"] }),
      testenvProject({ name: "action-e2e", include: ["action/test/e2e/*.test.ts"] }),
      testenvProject({ name: "operator-e2e", include: ["operator/test/*.test.ts"], testTimeout: 180_000 }),
      // Helm chart: lint, render, schema, kubeconform, RBAC proven with the operator (charts/test).
      testenvProject({ name: "charts", include: ["charts/test/**/*.test.ts"] }),
    ],
  },
});
