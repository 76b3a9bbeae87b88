#!/usr/bin/env node
/**
 * Range reads through the library, timed inside one process (module loading excluded): each read
 * opens the capsule over HTTP from scratch (new source, signature check, key unwrap), then reads and
 * verifies the range. The first read also pays one-time costs (the HTTP client's and the curve
 * libraries' lazy initialisation); the second, at another offset, shows the steady state.
 *
 *   node bench/range-read.mjs URL KEYFILE ENTRY OFFSET LENGTH OUTFILE
 * prints {"coldMs", "warmMs", "requests", "bytes", "stored"} (of the first read; stored: the entry's
 * size in the archive) and writes its plaintext to OUTFILE.
 */
import { readFileSync, writeFileSync } from "node:fs";
import {
  Capsule,
  httpSource,
  loadKeyMaterial,
  masterEntryKeys,
  readRange,
  unlockMasterKey,
} from "../core/dist/index.js";

const [url, keyFile, entry, offset, length, out] = process.argv.slice(2);
const { identities } = loadKeyMaterial(readFileSync(keyFile, "utf8"));

async function read(at) {
  const t0 = performance.now();
  const source = await httpSource(url);
  const capsule = await Capsule.open(source);
  const master = await unlockMasterKey(capsule, { identities });
  const bytes = await readRange(capsule, entry, at, Number(length), masterEntryKeys(capsule, master));
  const ms = performance.now() - t0;
  await source.close();
  const stored = (await capsule.entry(entry)).stored;
  return { ms, bytes, requests: source.requests, bytesRead: source.bytesRead, stored };
}

const cold = await read(Number(offset));
const warm = await read(Math.max(0, Number(offset) - 64 * 1024 * 1024));
writeFileSync(out, cold.bytes);
process.stdout.write(
  `${JSON.stringify({ coldMs: cold.ms, warmMs: warm.ms, requests: cold.requests, bytes: cold.bytesRead, stored: cold.stored })}\n`,
);
