/** Entry point of the bundled action (`dist/index.js`): one `::error::` line on failure, never a stack trace. */
import * as core from "@actions/core";
import { QcapError } from "@qcap/core";
import { AttestationStoreError } from "./github-attestations.js";
import { InputError } from "./inputs.js";
import { run } from "./run.js";
import { UploadError } from "./s3.js";

try {
  await run();
} catch (e) {
  const expected =
    e instanceof QcapError ||
    e instanceof InputError ||
    e instanceof UploadError ||
    e instanceof AttestationStoreError;
  const message = (e as Error)?.message ?? String(e);
  core.setFailed(expected ? message : `unexpected error: ${message}`);
  if (!expected && (e as Error)?.stack) core.debug((e as Error).stack as string);
}
