// Helper for vitest.config.ts: a project that runs against the local control plane.
//
//   import { testenvProject } from "./testenv/vitest.mjs";
//   projects: [testenvProject({ name: "operator", include: ["operator/test/e2e/**/*.test.ts"] })]
//
// Every such project shares one environment per vitest run (see global-setup.mjs).
import { fileURLToPath } from "node:url";

export const GLOBAL_SETUP = fileURLToPath(new URL("./global-setup.mjs", import.meta.url));

/**
 * @param {{ name: string, include: string[], testTimeout?: number, hookTimeout?: number } & Record<string, unknown>} options
 */
export function testenvProject({ name, include, testTimeout = 300_000, hookTimeout = 900_000, ...test }) {
  return {
    test: {
      name,
      include,
      globalSetup: [GLOBAL_SETUP],
      testTimeout,
      hookTimeout,
      fileParallelism: false,
      ...test,
    },
  };
}
