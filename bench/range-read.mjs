#!/usr/bin/env node
/**
 * One range read through the library, timed inside the process (module loading excluded):
 * open the capsule over HTTP, unwrap the key, read and verify the range.
 *
 *   node bench/range-read.mjs URL KEYFILE ENTRY OFFSET LENGTH OUTFILE
 * prints {"ms": …, "requests": …, "bytes": …} and writes the plaintext to OUTFILE.
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
const t0 = performance.now();
const source = await httpSource(url);
const capsule = await Capsule.open(source);
const master = await unlockMasterKey(capsule, { identities });
const bytes = await readRange(
  capsule,
  entry,
  Number(offset),
  Number(length),
  masterEntryKeys(capsule, master),
);
const ms = performance.now() - t0;
await source.close();
writeFileSync(out, bytes);
process.stdout.write(`${JSON.stringify({ ms, requests: source.requests, bytes: source.bytesRead })}\n`);
