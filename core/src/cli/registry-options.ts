/**
 * Options shared by `publish`, `fetch` and `ls`, and the lazy loading of their S3 code: the AWS SDK
 * is an optional dependency of @qcap/core and costs start-up time, so only these commands load it.
 */
import type { Command } from "commander";
import { fail } from "../errors.js";

export interface RegistryCliOpts {
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  json?: boolean;
}

export function registryOptions(c: Command): Command {
  return c
    .option("--endpoint <url>", "S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS)")
    .option("--region <region>", "S3 region (default: AWS_REGION, else us-east-1)")
    .option("--path-style", "path-style S3 addressing, for MinIO and most self-hosted servers")
    .option("--json", "machine-readable output");
}

/** The modules that use the AWS SDK; a usage error when the optional SDK is not installed. */
export async function loadRegistrySdk() {
  try {
    const [access, store, upload] = await Promise.all([
      import("./registry-access.js"),
      import("../registry/s3-store.js"),
      import("./registry-upload.js"),
    ]);
    return { access, store, upload };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ERR_MODULE_NOT_FOUND" && /@aws-sdk\//.test(err.message))
      fail(
        "usage",
        "S3 registries need the optional packages @aws-sdk/client-s3 and @aws-sdk/lib-storage: install them beside qcap",
      );
    throw e;
  }
}
