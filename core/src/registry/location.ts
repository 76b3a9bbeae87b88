/** Registry addresses: `s3://bucket/prefix` or an http(s) base URL, and public URLs of objects. */
import { fail } from "../errors.js";

export type RegistryAddress = { kind: "s3"; bucket: string; prefix: string } | { kind: "http"; base: string };

/** S3 bucket names (the rules every S3 implementation accepts). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses a registry address; a usage error names what is wrong. */
export function parseRegistryAddress(text: string): RegistryAddress {
  if (/^s3:\/\//i.test(text)) {
    const rest = text.slice(5);
    const slash = rest.indexOf("/");
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? "" : rest.slice(slash + 1).replace(/^\/+|\/+$/g, "");
    if (!BUCKET.test(bucket)) fail("usage", `invalid bucket name "${bucket}" in ${text}`);
    if (prefix.split("/").some((s) => s === "." || s === ".."))
      fail("usage", `invalid prefix "${prefix}" in ${text}`);
    return { kind: "s3", bucket, prefix };
  }
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return fail("usage", `invalid registry URL ${text}`);
    }
    if (url.search || url.hash) fail("usage", `the registry URL must not have a query or fragment: ${text}`);
    return { kind: "http", base: url.href.replace(/\/+$/, "") };
  }
  return fail("usage", `invalid registry "${text}": give s3://BUCKET/PREFIX or an https:// URL`);
}

/** The public URL of an object: publicURL + key below the prefix, or the endpoint in path style. */
export function objectUrl(
  d: { endpoint?: string; region?: string; bucket: string; publicURL?: string; prefix?: string },
  key: string,
): string {
  const enc = (k: string) => k.split("/").map(encodeURIComponent).join("/");
  if (d.publicURL) {
    const rel = d.prefix && key.startsWith(`${d.prefix}/`) ? key.slice(d.prefix.length + 1) : key;
    return `${d.publicURL.replace(/\/+$/, "")}/${enc(rel)}`;
  }
  const base = d.endpoint?.replace(/\/+$/, "") ?? `https://s3.${d.region ?? "us-east-1"}.amazonaws.com`;
  return `${base}/${encodeURIComponent(d.bucket)}/${enc(key)}`;
}
