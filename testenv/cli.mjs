#!/usr/bin/env node
// Local test control plane for Q-Cap: `node testenv/cli.mjs build|up|down|env|status`.
import { build } from "./lib/build.mjs";

const [cmd, ...rest] = process.argv.slice(2);
async function main() {
  switch (cmd) {
    case "build":
      await build({ only: rest.filter((a) => !a.startsWith("-")), force: rest.includes("--force") });
      break;
    default:
      process.stderr.write("usage: node testenv/cli.mjs build|up|down|env|status\n");
      process.exit(2);
  }
}
main().catch((e) => {
  process.stderr.write(`[testenv] error: ${e.message}\n`);
  process.exit(1);
});
