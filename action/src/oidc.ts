/** The workflow's OIDC ID token (for sigstore by default), from the endpoint GitHub gives jobs with `id-token: write`. */
import * as core from "@actions/core";
import { QcapError } from "@qcap/core";

export async function identityToken(audience = "sigstore"): Promise<string> {
  if (!process.env.ACTIONS_ID_TOKEN_REQUEST_URL || !process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN)
    throw new QcapError(
      "input",
      "keyless attestation needs the workflow's OIDC token: add `permissions: id-token: write` to the job",
    );
  // getIDToken registers the token as a secret before returning it.
  try {
    return await core.getIDToken(audience);
  } catch (e) {
    // Its messages span lines ("Error Code : …"); one line is enough.
    const message = String((e as Error).message ?? e)
      .replace(/\s+/g, " ")
      .replace(/^Error message: /, "")
      .trim();
    throw new QcapError("input", `cannot get the workflow's OIDC token: ${message}`);
  }
}
