#!/usr/bin/env node
// Local test control plane for Q-Cap (plain Node ESM, no dependencies; see testenv/README.md).
//
//   node testenv/cli.mjs build [NAME...] [--force]   build the missing pinned binaries into the cache
//   node testenv/cli.mjs up [--dir DIR]              build if needed, start everything, wait until ready
//   node testenv/cli.mjs env [--dir DIR]             print `export NAME=value` lines of the running env
//   node testenv/cli.mjs status [--dir DIR]          show each component and whether it answers
//   node testenv/cli.mjs down [--dir DIR] [--keep]   stop everything, remove the temp dir unless --keep
import { parseArgs } from "node:util";
import { build } from "./lib/build.mjs";
import { missingBinaries } from "./lib/common.mjs";
import { down, envFileText, findState, status, up } from "./lib/env.mjs";

const USAGE =
  "usage: node testenv/cli.mjs build [NAME...] [--force] | up | env | status | down [--keep] [--dir DIR]";

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: "string" },
      keep: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(`${USAGE}\n`);
    return cmd ? 0 : 2;
  }
  switch (cmd) {
    case "build":
      await build({ only: rest, force: values.force });
      return 0;
    case "up": {
      if (missingBinaries().length) await build();
      const state = await up({ dir: values.dir });
      process.stdout.write(
        `testenv is up in ${state.dir}\nload it with:  eval "$(node testenv/cli.mjs env)"\n`,
      );
      return 0;
    }
    case "env": {
      const state = findState(values.dir);
      if (!state) {
        process.stderr.write("[testenv] no running environment (run `node testenv/cli.mjs up`)\n");
        return 1;
      }
      process.stdout.write(envFileText(state));
      return 0;
    }
    case "status": {
      const st = await status({ dir: values.dir });
      if (!st) {
        process.stdout.write("no environment\n");
        return 1;
      }
      process.stdout.write(`dir: ${st.state.dir}\n`);
      for (const r of st.rows) {
        const port = {
          "oidc-issuer": "oidc",
          "kube-apiserver": "apiserver",
          versitygw: "s3",
          "timestamp-server": "tsa",
          "rekor-server": "rekor",
          tesseract: "ct",
        }[r.name];
        const p = st.state.ports[port ?? r.name];
        process.stdout.write(
          `${r.name.padEnd(18)} pid ${String(r.pid).padEnd(8)} port ${String(p ?? "-").padEnd(6)} ${
            r.answers ? "ok" : r.alive ? "NOT ANSWERING" : "DOWN"
          }\n`,
        );
      }
      return st.rows.every((r) => r.answers) ? 0 : 1;
    }
    case "down": {
      const { leftoverPorts } = await down({ dir: values.dir, keep: values.keep || undefined });
      return leftoverPorts.length ? 1 : 0;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`[testenv] error: ${e.message}\n`);
    process.exit(1);
  },
);
