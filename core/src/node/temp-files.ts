/**
 * Temporary files and folders in use by this process (a capsule being written, an extraction's
 * staging folder), so that an interrupted run can remove them: the CLI does on SIGINT and SIGTERM
 * (`removeTempsNow`). Library users with their own signal handlers can call it too.
 */
import { rmSync } from "node:fs";

const temps = new Set<string>();

/** Records `path` as temporary until `forgetTemp(path)`. */
export function rememberTemp(path: string): void {
  temps.add(path);
}

export function forgetTemp(path: string): void {
  temps.delete(path);
}

/** Removes every recorded temporary path at once, synchronously (from a signal handler). */
export function removeTempsNow(): void {
  for (const path of temps) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {}
  }
  temps.clear();
}
