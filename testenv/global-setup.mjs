// Vitest global setup: builds the pinned binaries if needed, starts the local control plane once, exports its
// variables into process.env (inherited by the test workers) and provides them as `inject("qcapTestenv")`,
// and stops everything in the returned teardown (which vitest runs even when tests fail).
//
// QCAP_TESTENV_REUSE=1: use the environment that `node testenv/cli.mjs up` started (found through
// QCAP_TESTENV_DIR or the default pointer), or start one and leave it running for the next run.
//
// Several vitest projects may list this file: they share one environment (reference counted); the last
// teardown stops it.
import { build } from "./lib/build.mjs";
import { log, missingBinaries } from "./lib/common.mjs";
import { down, envVars, findState, status, up } from "./lib/env.mjs";
import { isAlive } from "./lib/procs.mjs";

const SHARED = Symbol.for("qcap.testenv.shared");

async function reusable() {
  const st = await status();
  if (st?.rows.length && st.rows.every((r) => r.answers)) return st.state;
  return null;
}

async function acquire() {
  if (process.env.QCAP_TESTENV_REUSE === "1") {
    const running = await reusable();
    if (running) {
      log(`reusing the running environment in ${running.dir}`);
      return { state: running, owned: false };
    }
    log("QCAP_TESTENV_REUSE=1 but no healthy environment is running: starting one and leaving it up");
    if (missingBinaries().length) await build();
    const stale = findState();
    if (stale && Object.values(stale.pids).some(isAlive)) {
      throw new Error(
        `the environment in ${stale.dir} runs but does not answer: see \`node testenv/cli.mjs status\`, then \`down\` it`,
      );
    }
    if (stale) await down({ state: stale, quiet: true });
    const state = await up({ reuse: false, fresh: !process.env.QCAP_TESTENV_DIR });
    return { state, owned: false };
  }
  if (missingBinaries().length) await build();
  // One retry: free ports are picked before the servers bind them, so a concurrent process may take one.
  for (let attempt = 1; ; attempt++) {
    try {
      const state = await up({ reuse: false, setPointer: false, fresh: true });
      return { state, owned: true };
    } catch (e) {
      if (attempt >= 2) throw e;
      log(`start failed (${e.message}); retrying once with new ports`);
    }
  }
}

function killOnExit(state) {
  // Last resort if the vitest process dies without running teardowns.
  const handler = () => {
    for (const pid of Object.values(state.pids)) {
      try {
        if (isAlive(pid)) process.kill(-pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  };
  process.once("exit", handler);
  return () => process.off("exit", handler);
}

/** @param {{ provide?: (key: string, value: unknown) => void }} [project] */
export default async function setup(project) {
  globalThis[SHARED] ??= { refs: 0, promise: null };
  const shared = globalThis[SHARED];
  shared.refs++;
  shared.promise ??= acquire().then((r) => ({ ...r, unhook: r.owned ? killOnExit(r.state) : () => {} }));
  let acquired;
  try {
    acquired = await shared.promise;
  } catch (e) {
    shared.refs--;
    if (shared.refs === 0) shared.promise = null;
    throw e;
  }
  const vars = envVars(acquired.state);
  Object.assign(process.env, vars);
  process.env.PATH = `${acquired.state.paths.bin}:${process.env.PATH}`;
  project?.provide?.("qcapTestenv", vars);

  return async () => {
    shared.refs--;
    if (shared.refs > 0) return;
    shared.promise = null;
    acquired.unhook();
    if (!acquired.owned) return;
    const { leftoverPorts } = await down({ state: acquired.state, quiet: true });
    log(`environment stopped${leftoverPorts.length ? `; ports still listening: ${leftoverPorts}` : ""}`);
    if (leftoverPorts.length) throw new Error(`testenv teardown left ports listening: ${leftoverPorts}`);
  };
}
