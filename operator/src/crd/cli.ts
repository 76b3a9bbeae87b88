#!/usr/bin/env node
/** Writes crds/*.yaml from the schemas (run after changing operator/src/api). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderCrds } from "./render.js";

const dir = fileURLToPath(new URL("../../../crds/", import.meta.url));
for (const [name, text] of renderCrds()) {
  writeFileSync(join(dir, name), text);
  process.stdout.write(`wrote crds/${name}\n`);
}
