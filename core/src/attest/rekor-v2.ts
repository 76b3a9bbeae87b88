/**
 * Recording a DSSE signature in a Rekor v2 log (rekor-tiles). Rekor v2 logs a DSSE envelope as a
 * `hashedrekord` 0.0.2 entry over the envelope's pre-authentication encoding (PAE): the entry's digest is
 * SHA-256(PAE) and its signature the envelope's. That is the form rekor-tiles accepts (it refuses `dsse`
 * entries) and sigstore-python and sigstore-go check; @sigstore/sign 4 still sends `dsse` requests.
 */
import { createHash, X509Certificate } from "node:crypto";
import { TransparencyLogEntry } from "@sigstore/protobuf-specs";
import type { SignatureBundle, VerificationMaterial, Witness } from "@sigstore/sign";

/** The DSSE v1 pre-authentication encoding of a payload. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    Buffer.from(payload),
  ]);
}

const MAX_RESPONSE_BYTES = 4 << 20;

class RekorV2Error extends Error {
  constructor(
    message: string,
    readonly code = "TLOG_CREATE_ENTRY_ERROR",
  ) {
    super(message);
  }
}

/** The key details Rekor v2 wants for a Fulcio certificate's key (Fulcio signers use ECDSA P-256). */
function keyDetails(cert: X509Certificate): string {
  const k = cert.publicKey;
  if (k.asymmetricKeyType === "ec") {
    const curve = k.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return "PKIX_ECDSA_P256_SHA_256";
    if (curve === "secp384r1") return "PKIX_ECDSA_P384_SHA_384";
  }
  if (k.asymmetricKeyType === "ed25519") return "PKIX_ED25519";
  throw new RekorV2Error(`no Rekor v2 key details for a ${k.asymmetricKeyType} certificate key`);
}

export class RekorV2Witness implements Witness {
  constructor(private readonly o: { rekorBaseURL: string; timeout?: number; retry?: number }) {}

  async testify(content: SignatureBundle, publicKey: string): Promise<VerificationMaterial> {
    if (content.$case !== "dsseEnvelope") throw new RekorV2Error("only DSSE envelopes are logged");
    const env = content.dsseEnvelope;
    const sig = env.signatures[0];
    if (env.signatures.length !== 1 || !sig) throw new RekorV2Error("the envelope must have one signature");
    const cert = new X509Certificate(publicKey);
    const body = {
      hashedRekordRequestV002: {
        digest: createHash("sha256").update(preAuthEncoding(env.payloadType, env.payload)).digest("base64"),
        signature: {
          content: Buffer.from(sig.sig).toString("base64"),
          verifier: {
            x509Certificate: { rawBytes: cert.raw.toString("base64") },
            keyDetails: keyDetails(cert),
          },
        },
      },
    };
    const url = `${this.o.rekorBaseURL.replace(/\/+$/, "")}/api/v2/log/entries`;
    const attempts = 1 + (this.o.retry ?? 2);
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.o.timeout ?? 30_000),
        });
      } catch (e) {
        last = new RekorV2Error(
          `error creating tlog entry - ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name}`,
        );
        continue;
      }
      const text = (await res.text()).slice(0, MAX_RESPONSE_BYTES);
      if (res.ok) {
        try {
          const entry = TransparencyLogEntry.fromJSON(JSON.parse(text));
          if (!entry.logId || !entry.kindVersion) throw new Error("incomplete entry");
          return { tlogEntries: [entry as Required<VerificationMaterial>["tlogEntries"][number]] };
        } catch {
          throw new RekorV2Error(
            "error creating tlog entry - the log's answer is not a TransparencyLogEntry",
          );
        }
      }
      last = new RekorV2Error(
        `error creating tlog entry - (${res.status}) ${text.replace(/\s+/g, " ").slice(0, 200)}`,
      );
      if (res.status < 500 && res.status !== 429) break;
    }
    throw last;
  }
}
