/** Published grants: `grants/<token id>.json` beside the registry index (each sealed to its audience). */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { type RegistryLocation, registryKey } from "@qcap/core/registry";

export const grantKey = (loc: RegistryLocation, tokenId: string) =>
  registryKey(loc.prefix, `grants/${tokenId}.json`);

export async function publishGrant(loc: RegistryLocation, tokenId: string, text: string): Promise<void> {
  await loc.client.send(
    new PutObjectCommand({
      Bucket: loc.bucket,
      Key: grantKey(loc, tokenId),
      Body: text,
      ContentType: "application/json",
    }),
  );
}
