/** A file sink that must not replace its path: a file that appears during the run is kept. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fileSink } from "../src/node/sink.js";
import { tempDir } from "./helpers.js";

const tmp = tempDir();
afterAll(() => tmp.remove());

describe("fileSink({ replace: false })", () => {
  it("writes a new file and leaves no temporary file", async () => {
    const path = join(tmp.path, "new.bin");
    const sink = await fileSink(path, { replace: false });
    await sink.write(new Uint8Array([1, 2, 3]));
    await sink.close();
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    expect(readdirSync(tmp.path).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("refuses, at the final rename, a file that appeared while it was written", async () => {
    const path = join(tmp.path, "raced.bin");
    const sink = await fileSink(path, { replace: false });
    await sink.write(new Uint8Array([1, 2, 3]));
    writeFileSync(path, "someone else's");
    await expect(sink.close()).rejects.toThrow(/refusing to overwrite .*raced\.bin.*--force/);
    await sink.abort();
    expect(readFileSync(path, "utf8")).toBe("someone else's");
    expect(existsSync(sink.tempPath)).toBe(false);
  });

  it("replaces it by default", async () => {
    const path = join(tmp.path, "replaced.bin");
    writeFileSync(path, "old");
    const sink = await fileSink(path);
    await sink.write(new Uint8Array([9]));
    await sink.close();
    expect([...readFileSync(path)]).toEqual([9]);
  });
});
