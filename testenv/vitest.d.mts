import type { TestProjectInlineConfiguration } from "vitest/config";

/** Absolute path of testenv/global-setup.mjs. */
export declare const GLOBAL_SETUP: string;

/** A vitest project running against the shared local control plane (see testenv/README.md). */
export declare function testenvProject(
  options: {
    name: string;
    include: string[];
    testTimeout?: number;
    hookTimeout?: number;
  } & Record<string, unknown>,
): TestProjectInlineConfiguration;
