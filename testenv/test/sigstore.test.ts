import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes, sign, verify, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { certificateAuthority } from "../lib/trustroot.mjs";
import { certExtensions, child, encodeOid, encodeUint, OID, oid, parse, tlv } from "./asn1.js";
import { env } from "./helpers.js";

interface TrustedRoot {
  mediaType: string;
  tlogs: unknown[];
  ctlogs: unknown[];
  certificateAuthorities: CA[];
  timestampAuthorities: CA[];
}
interface LogEntry {
  baseUrl: string;
  publicKey: { rawBytes: string; keyDetails: string };
  logId: { keyId: string };
}
interface CA {
  uri: string;
  subject: { organization?: string; commonName?: string };
  certChain: { certificates: { rawBytes: string }[] };
  validFor: { start: string };
}

const trustedRoot = () => JSON.parse(readFileSync(env("QCAP_TRUSTED_ROOT"), "utf8")) as TrustedRoot;
const chainOf = (ca: CA) =>
  ca.certChain.certificates.map((c) => new X509Certificate(Buffer.from(c.rawBytes, "base64")));

async function mintToken(claims: Record<string, unknown>) {
  const res = await fetch(env("QCAP_OIDC_TOKEN_URL"), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(claims),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { token: string; claims: Record<string, string> };
}

async function signingCert(token: string, subject: string) {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const proof = sign("sha256", Buffer.from(subject), privateKey).toString("base64");
  const res = await fetch(`${env("QCAP_FULCIO_URL")}/api/v2/signingCert`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      credentials: { oidcIdentityToken: token },
      publicKeyRequest: {
        publicKey: { algorithm: "ECDSA", content: publicKey.export({ type: "spki", format: "pem" }) },
        proofOfPossession: proof,
      },
    }),
  });
  return { res, publicKey };
}

describe("keyless signing stack", () => {
  it("the local OIDC issuer publishes discovery and JWKS", async () => {
    const issuer = env("QCAP_OIDC_ISSUER_URL");
    const conf = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
      issuer: string;
      jwks_uri: string;
    };
    expect(conf.issuer).toBe(issuer);
    const jwks = (await (await fetch(conf.jwks_uri)).json()) as { keys: { kty: string; alg: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kty: "RSA", alg: "RS256" });
  });

  it("Fulcio issues a GitHub-Actions-shaped certificate for a local ID token", async () => {
    const { token, claims } = await mintToken({ repository: "qcap-org/capsules", ref: "refs/heads/main" });
    expect(claims.sub).toBe("repo:qcap-org/capsules:ref:refs/heads/main");
    expect(claims.aud).toBe("sigstore");
    expect(claims.iss).toBe(env("QCAP_OIDC_ISSUER_URL"));

    const { res, publicKey } = await signingCert(token, claims.sub as string);
    const body = (await res.json()) as {
      signedCertificateEmbeddedSct?: { chain: { certificates: string[] } };
    };
    expect(res.status, JSON.stringify(body)).toBe(200);
    // Fulcio logs the certificate in the testenv's CT log and embeds the SCT.
    const pems = body.signedCertificateEmbeddedSct?.chain.certificates ?? [];
    expect(pems.length).toBeGreaterThanOrEqual(2);
    const [leaf, ...issuers] = pems.map((p) => new X509Certificate(p));
    if (!leaf) throw new Error("no leaf");

    // Bound to our key, short-lived, code signing, SAN = the workflow identity.
    expect(leaf.publicKey.export({ type: "spki", format: "der" })).toEqual(
      publicKey.export({ type: "spki", format: "der" }),
    );
    expect(leaf.subjectAltName).toBe(
      "URI:https://github.com/qcap-org/capsules/.github/workflows/release.yml@refs/heads/main",
    );
    expect(leaf.keyUsage).toContain("1.3.6.1.5.5.7.3.3");
    const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    expect(lifetime).toBeLessThanOrEqual(20 * 60 * 1000);

    // Fulcio extensions: issuer (v2) and the GitHub workflow claims.
    const ext = certExtensions(leaf.raw);
    const utf8 = (id: string) => {
      const v = ext.get(id);
      return v ? parse(v).value.toString("utf8") : undefined;
    };
    expect(utf8("1.3.6.1.4.1.57264.1.8")).toBe(env("QCAP_OIDC_ISSUER_URL"));
    expect(utf8("1.3.6.1.4.1.57264.1.12")).toBe("https://github.com/qcap-org/capsules");
    expect(utf8("1.3.6.1.4.1.57264.1.14")).toBe("refs/heads/main");
    expect(utf8("1.3.6.1.4.1.57264.1.11")).toBe("github-hosted");
    expect(utf8("1.3.6.1.4.1.57264.1.13")).toBe(claims.sha);
    expect(ext.has("1.3.6.1.4.1.11129.2.4.2"), "embedded SCT list").toBe(true);

    // The chain verifies and ends in the CA that the trusted root lists.
    let cert = leaf;
    for (const issuer of issuers) {
      expect(cert.checkIssued(issuer)).toBe(true);
      expect(cert.verify(issuer.publicKey)).toBe(true);
      cert = issuer;
    }
    const rootPem = await (await fetch(`${env("QCAP_FULCIO_URL")}/api/v1/rootCert`)).text();
    const fulcioRoot = new X509Certificate(
      rootPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.pop() ?? "",
    );
    const tr = trustedRoot();
    const caChain = chainOf(tr.certificateAuthorities[0] as CA);
    expect(caChain.at(-1)?.raw.equals(fulcioRoot.raw)).toBe(true);
    expect(caChain.some((c) => c.raw.equals(cert.raw))).toBe(true);
  });

  it("Fulcio rejects tokens that the local issuer did not sign, and a wrong proof of possession", async () => {
    const { token, claims } = await mintToken({});
    const [h, p] = token.split(".");
    const forged = `${h}.${p}.${Buffer.from(randomBytes(256)).toString("base64url")}`;
    const bad = await signingCert(forged, claims.sub as string);
    expect(bad.res.status).toBe(400);
    expect(((await bad.res.json()) as { message: string }).message).toMatch(/identity token/);
    const wrongSubject = await signingCert(token, "someone-else");
    expect(wrongSubject.res.status).toBe(400);
    expect(((await wrongSubject.res.json()) as { message: string }).message).toMatch(/signature/);
    const good = await signingCert(token, claims.sub as string);
    expect(good.res.status).toBe(200);
  });

  it("the TSA returns a signed RFC 3161 timestamp that chains to the trusted root", async () => {
    const digest = createHash("sha256").update("qcap capsule").digest();
    const nonce = randomBytes(8);
    nonce[0] = ((nonce[0] as number) % 0x7f) + 1; // positive, minimal DER INTEGER
    const req = tlv(
      0x30,
      tlv(0x02, Buffer.from([1])),
      tlv(0x30, tlv(0x30, encodeOid(OID.sha256), tlv(0x05)), tlv(0x04, digest)),
      encodeUint(nonce),
      tlv(0x01, Buffer.from([0xff])),
    );
    const res = await fetch(`${env("QCAP_TSA_URL")}/api/v1/timestamp`, {
      method: "POST",
      headers: { "content-type": "application/timestamp-query" },
      body: new Uint8Array(req),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/timestamp-reply");
    const resp = parse(Buffer.from(await res.arrayBuffer()));
    expect(child(child(resp, 0), 0).value[0]).toBe(0); // PKIStatus granted

    const contentInfo = child(resp, 1);
    expect(oid(child(contentInfo, 0))).toBe(OID.signedData);
    const signedData = child(child(contentInfo, 1), 0);
    const encap = child(signedData, 2);
    expect(oid(child(encap, 0))).toBe(OID.tstInfo);
    const tstDer = child(child(encap, 1), 0).value;
    const tst = parse(tstDer);
    const imprint = child(tst, 2);
    expect(child(imprint, 1).value.equals(digest)).toBe(true);
    const nonceNode = tst.children.find((c, k) => k > 4 && c.tag === 0x02);
    const asBigInt = (b: Buffer) => BigInt(`0x${b.toString("hex") || "0"}`);
    expect(nonceNode && asBigInt(nonceNode.value)).toBe(asBigInt(nonce));

    // CMS signature: signedAttrs (re-tagged as SET) signed by the TSA leaf of the trusted root.
    const signerInfos = signedData.children[signedData.children.length - 1];
    const si = child(signerInfos as NonNullable<typeof signerInfos>, 0);
    const digestAlg = oid(child(child(si, 2), 0));
    const hash = { [OID.sha256]: "sha256", [OID.sha384]: "sha384", [OID.sha512]: "sha512" }[digestAlg];
    expect(hash).toBeDefined();
    const signedAttrs = child(si, 3);
    expect(signedAttrs.tag).toBe(0xa0);
    const md = signedAttrs.children.find((a) => oid(child(a, 0)) === OID.messageDigest);
    expect(
      md &&
        child(child(md, 1), 0).value.equals(
          createHash(hash as string)
            .update(tstDer)
            .digest(),
        ),
    ).toBe(true);
    const toVerify = Buffer.concat([Buffer.from([0x31]), signedAttrs.raw.subarray(1)]);
    const signature = child(si, 5).value;

    const tr = trustedRoot();
    const tsaChain = chainOf(tr.timestampAuthorities[0] as CA);
    const tsaLeaf = tsaChain[0] as X509Certificate;
    expect(verify(hash as string, toVerify, tsaLeaf.publicKey, signature)).toBe(true);
    for (let i = 0; i + 1 < tsaChain.length; i++) {
      expect((tsaChain[i] as X509Certificate).verify((tsaChain[i + 1] as X509Certificate).publicKey)).toBe(
        true,
      );
    }
    expect(tsaLeaf.keyUsage).toContain("1.3.6.1.5.5.7.3.8"); // timeStamping
  });

  it("the trusted root lists the live Fulcio CA and TSA chains, the Rekor v2 log and the CT log", async () => {
    const tr = trustedRoot();
    expect(tr.mediaType).toBe("application/vnd.dev.sigstore.trustedroot+json;version=0.1");
    const logs = [...(tr.tlogs as LogEntry[]), ...(tr.ctlogs as LogEntry[])];
    expect(logs.map((l) => l.baseUrl)).toEqual([
      env("QCAP_REKOR_URL"),
      expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
    ]);
    for (const l of logs) {
      // The log id is the SHA-256 of the log key's SubjectPublicKeyInfo.
      const spki = Buffer.from(l.publicKey.rawBytes, "base64");
      expect(l.logId.keyId).toBe(createHash("sha256").update(spki).digest("base64"));
      expect(l.publicKey.keyDetails).toBe("PKIX_ECDSA_P256_SHA_256");
    }
    expect(tr.certificateAuthorities).toHaveLength(1);
    expect(tr.timestampAuthorities).toHaveLength(1);
    expect(tr.certificateAuthorities[0]?.uri).toBe(env("QCAP_FULCIO_URL"));
    expect(tr.timestampAuthorities[0]?.uri).toBe(env("QCAP_TSA_URL"));

    const pems = (await (await fetch(`${env("QCAP_TSA_URL")}/api/v1/timestamp/certchain`)).text()).match(
      /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
    );
    const live = (pems ?? []).map((p) => new X509Certificate(p).raw.toString("base64"));
    expect(tr.timestampAuthorities[0]?.certChain.certificates.map((c) => c.rawBytes)).toEqual(live);

    const bundle = (await (await fetch(`${env("QCAP_FULCIO_URL")}/api/v2/trustBundle`)).json()) as {
      chains: { certificates: string[] }[];
    };
    const fulcioLive = (bundle.chains[0]?.certificates ?? []).map((p) =>
      new X509Certificate(p).raw.toString("base64"),
    );
    expect(tr.certificateAuthorities[0]?.certChain.certificates.map((c) => c.rawBytes)).toEqual(fulcioLive);
    for (const ca of [...tr.certificateAuthorities, ...tr.timestampAuthorities]) {
      expect(Date.parse(ca.validFor.start)).toBeLessThanOrEqual(Date.now());
    }
    // A complete subject, as sigstore-python's trust-root model requires: the root certificate's own O and CN.
    expect(tr.certificateAuthorities[0]?.subject).toEqual({
      organization: "qcap-testenv",
      commonName: "fulcio",
    });
    expect(tr.timestampAuthorities[0]?.subject).toEqual({
      organization: "local",
      commonName: "Test TSA Root",
    });
  });

  it("a CA certificate without a commonName still gets a complete subject in the trusted root", () => {
    // Fulcio's ephemeral CA is such a certificate (O=sigstore only); sigstore-python refuses a root without CN.
    const dir = mkdtempSync(join(tmpdir(), "qcap-trustroot-"));
    try {
      execFileSync("openssl", [
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        join(dir, "k"),
      ]);
      execFileSync("openssl", [
        "req",
        "-x509",
        "-new",
        "-key",
        join(dir, "k"),
        "-subj",
        "/O=sigstore",
        "-days",
        "1",
        "-out",
        join(dir, "c"),
      ]);
      const pem = readFileSync(join(dir, "c"), "utf8");
      expect(certificateAuthority("http://ca", [pem]).subject).toEqual({
        organization: "sigstore",
        commonName: "http://ca",
      });
      expect(
        certificateAuthority("http://ca", [pem], { organization: "x", commonName: "fulcio" }).subject,
      ).toEqual({ organization: "sigstore", commonName: "fulcio" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
