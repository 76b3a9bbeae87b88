/** GDAL reads payload files of an unsealed capsule in place: /vsizip/ locally and over /vsicurl/. */
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasCommand, qcap, tempDir } from "./helpers.js";

const gdal = hasCommand("gdalinfo") && hasCommand("gdal_translate");
const run = promisify(execFile);
const tmp = tempDir();
const dir = (...p: string[]) => join(tmp.path, ...p);
afterAll(() => tmp.remove());

describe.runIf(gdal)("GDAL and unsealed capsules", () => {
  const capsule = dir("data.qcap");
  let server: Server;
  let base = "";
  beforeAll(async () => {
    mkdirSync(dir("src", "dem"), { recursive: true });
    // A 4 x 3 grid as an ESRI ASCII raster, made a GeoTIFF by GDAL itself.
    writeFileSync(
      dir("grid.asc"),
      "ncols 4\nnrows 3\nxllcorner 6.5\nyllcorner 46.5\ncellsize 0.25\nNODATA_value -9999\n1 2 3 4\n5 6 7 8\n9 10 11 12\n",
    );
    const t = spawnSync("gdal_translate", [
      "-q",
      "-of",
      "GTiff",
      dir("grid.asc"),
      dir("src", "dem", "x.tif"),
    ]);
    expect(t.status).toBe(0);
    mkdirSync(dir("keys"));
    expect(qcap(["keygen", "-o", dir("keys", "k"), "--unprotected"]).code).toBe(0);
    expect(qcap(["pack", dir("src"), "-o", capsule, "--sign-key", dir("keys", "k"), "--unsealed"]).code).toBe(
      0,
    );
    const file = readFileSync(capsule);
    server = createServer((req, res) => {
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
      if (!m) {
        res.writeHead(200, { "content-length": file.length, "accept-ranges": "bytes" });
        res.end(req.method === "HEAD" ? undefined : file);
        return;
      }
      const a = Number(m[1]);
      const b = m[2] === "" ? file.length - 1 : Math.min(Number(m[2]), file.length - 1);
      res.writeHead(206, { "content-range": `bytes ${a}-${b}/${file.length}`, "content-length": b - a + 1 });
      res.end(file.subarray(a, b + 1));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  const info = async (path: string) => JSON.parse((await run("gdalinfo", ["-json", "-stats", path])).stdout);

  const expectGrid = (j: { size: number[]; bands: { minimum: number; maximum: number }[] }) => {
    expect(j.size).toEqual([4, 3]);
    expect(j.bands[0]?.minimum).toBe(1);
    expect(j.bands[0]?.maximum).toBe(12);
  };

  // The braces mark where the archive ends: GDAL recognises archives without them by .zip only.
  it("gdalinfo /vsizip/{data.qcap}/payload/… reads the raster in place", async () => {
    expectGrid(await info(`/vsizip/{${capsule}}/payload/dem/x.tif`));
  });

  it("gdalinfo /vsizip/{/vsicurl/http://…/data.qcap}/payload/… reads it over range requests", async () => {
    expectGrid(await info(`/vsizip/{/vsicurl/${base}/data.qcap}/payload/dem/x.tif`));
  });
});

describe.skipIf(gdal)("GDAL and unsealed capsules", () => {
  it.skip("needs gdalinfo and gdal_translate (apt-get install gdal-bin)", () => {});
});
