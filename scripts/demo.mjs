#!/usr/bin/env node
// The whole flow on generated sample data: keys, pack and seal, verify, inspect, a range read, open.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cli = join(import.meta.dirname, "..", "core", "dist", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "qcap-demo-"));
const at = (...p) => join(work, ...p);

function qcap(...args) {
  process.stdout.write(
    `\n$ qcap ${args.map((a) => (a.includes(work) ? a.replace(work, "$DEMO") : a)).join(" ")}\n`,
  );
  const out = execFileSync(process.execPath, [cli, ...args], { encoding: "buffer" });
  return out;
}
const show = (buf) => process.stdout.write(buf.toString("utf8"));

console.log(`Q-Cap demo in ${work} ($DEMO)`);
// Key files are protected by a passphrase; the demo gives it through the environment, as CI would.
process.env.QCAP_KEY_PASSPHRASE ??= "demo passphrase";
process.env.QCAP_STATE_DIR ??= at("state");

// Sample data: a small elevation raster (16-bit samples), a CSV and a STAC item as public metadata.
mkdirSync(at("data", "dem"), { recursive: true });
mkdirSync(at("meta"));
const raster = new Uint8Array(512 * 512 * 2);
const view = new DataView(raster.buffer);
for (let y = 0; y < 512; y++)
  for (let x = 0; x < 512; x++) view.setUint16((y * 512 + x) * 2, 1000 + ((x * y) % 700), true);
writeFileSync(at("data", "dem", "elevation.u16"), raster);
writeFileSync(at("data", "stations.csv"), "id,lat,lon\nA,46.52,6.63\nB,47.37,8.54\n");
writeFileSync(
  at("meta", "item.json"),
  JSON.stringify(
    {
      type: "Feature",
      stac_version: "1.0.0",
      id: "dem-demo",
      properties: { datetime: "2026-01-01T00:00:00Z" },
    },
    null,
    2,
  ),
);

show(qcap("keygen", "-o", at("publisher.key")));
show(qcap("keygen", "-o", at("reader.key")));
show(qcap("keygen", "-o", at("guest.key")));
const reader = qcap("pubkey", at("reader.key"), "--format", "age").toString("utf8").trim();
// The publisher's PUBLIC key, the one readers pin (never the secret key file).
writeFileSync(at("publisher.pub"), qcap("pubkey", at("publisher.key"), "--format", "pem"));

show(
  qcap(
    "pack",
    at("data"),
    "--meta",
    at("meta"),
    "-o",
    at("dem.qcap"),
    "--sign-key",
    at("publisher.key"),
    "-r",
    reader,
    "-r",
    at("publisher.key"),
  ),
);
show(qcap("verify", at("dem.qcap"), "--trust", at("publisher.pub")));
show(qcap("inspect", at("dem.qcap")));
const window = qcap(
  "cat",
  at("dem.qcap"),
  "dem/elevation.u16",
  "--offset",
  "262144",
  "--length",
  "16",
  "-i",
  at("reader.key"),
);
console.log(`16 verified bytes from the middle of the raster: ${window.toString("hex")}`);
show(qcap("open", at("dem.qcap"), "-o", at("opened"), "-i", at("reader.key")));

// Least privilege: the reader grants a guest the CSV only, for a week; the publisher can revoke it.
const guest = JSON.parse(readFileSync(at("guest.key"), "utf8")).public.recipient;
show(
  qcap(
    "grant",
    at("dem.qcap"),
    "-i",
    at("publisher.key"),
    "--sign-key",
    at("publisher.key"),
    "--to",
    reader,
    "--expires",
    "30d",
    "-o",
    at("reader-cap.json"),
  ),
);
show(
  qcap(
    "attenuate",
    at("reader-cap.json"),
    "-i",
    at("reader.key"),
    "--to",
    guest,
    "--paths",
    "*.csv",
    "--expires",
    "7d",
    "-o",
    at("guest-cap.json"),
  ),
);
show(qcap("inspect", at("guest-cap.json")));
show(qcap("open", at("dem.qcap"), "--cap", at("guest-cap.json"), "-i", at("guest.key"), "-o", at("guest")));
const id = JSON.parse(readFileSync(at("guest-cap.json"), "utf8")).issued.id;
show(
  qcap(
    "revoke",
    "--id",
    id,
    "--reason",
    "demo",
    "--sign-key",
    at("publisher.key"),
    "--list",
    at("revoked.json"),
  ),
);
try {
  qcap(
    "open",
    at("dem.qcap"),
    "--cap",
    at("guest-cap.json"),
    "-i",
    at("guest.key"),
    "-o",
    at("guest2"),
    "--revocations",
    at("revoked.json"),
  );
  console.log("MISMATCH: a revoked grant opened!");
  process.exitCode = 1;
} catch {
  console.log("(refused, as it should be: the grant is revoked)");
}

const same = readFileSync(at("opened", "dem", "elevation.u16")).equals(Buffer.from(raster));
console.log(
  same ? "\nThe opened raster is identical to the original." : "\nMISMATCH: the opened raster differs!",
);
process.exitCode = same ? (process.exitCode ?? 0) : 1;
