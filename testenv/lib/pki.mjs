// Certificates for the API server, generated with the openssl CLI (node:crypto cannot issue X.509).
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./common.mjs";

async function openssl(args, cwd) {
  const r = await run("openssl", args, { cwd, capture: true }).catch((e) => {
    throw new Error(`openssl is required (${e.message})`);
  });
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.out}`);
  return r.out;
}

/**
 * Writes into `dir`: ca.crt/ca.key (self-signed CA), apiserver.crt/.key (SAN IP:127.0.0.1, DNS:localhost),
 * sa.key/sa.pub (service-account token signing key pair).
 */
export async function generatePki(dir) {
  const days = "30";
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], dir);
  await openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-sha256",
      "-days",
      days,
      "-subj",
      "/CN=qcap-testenv-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "apiserver.key"], dir);
  await openssl(
    ["req", "-new", "-key", "apiserver.key", "-subj", "/CN=kube-apiserver", "-out", "apiserver.csr"],
    dir,
  );
  writeFileSync(
    join(dir, "apiserver.ext"),
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1",
      "",
    ].join("\n"),
  );
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      "apiserver.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-sha256",
      "-days",
      days,
      "-extfile",
      "apiserver.ext",
      "-out",
      "apiserver.crt",
    ],
    dir,
  );
  await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"], dir);
  await openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  return {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    serverCert: join(dir, "apiserver.crt"),
    serverKey: join(dir, "apiserver.key"),
    saKey: join(dir, "sa.key"),
    saPub: join(dir, "sa.pub"),
  };
}

/** The Rekor log's checkpoint signing key: ECDSA P-256, PKCS#8 PEM. */
export async function generateRekorKey(file) {
  await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file]);
}

/**
 * Fulcio's CA, made before Fulcio starts so that the CT log can be told which root it accepts: a self-signed
 * ECDSA P-256 root with a complete subject, its key as encrypted PKCS#8 (what Fulcio's file CA reads).
 */
export async function generateFulcioCa(dir, password) {
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "fulcio-ca.plain.key"], dir);
  await openssl(
    [
      "pkcs8",
      "-topk8",
      "-v2",
      "aes-256-cbc",
      "-in",
      "fulcio-ca.plain.key",
      "-passout",
      `pass:${password}`,
      "-out",
      "fulcio-ca.key",
    ],
    dir,
  );
  await openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "fulcio-ca.plain.key",
      "-sha256",
      "-days",
      "30",
      "-subj",
      "/O=qcap-testenv/CN=fulcio",
      "-addext",
      "basicConstraints=critical,CA:TRUE,pathlen:1",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-addext",
      "extendedKeyUsage=codeSigning",
      "-out",
      "fulcio-ca.crt",
    ],
    dir,
  );
  rmSync(join(dir, "fulcio-ca.plain.key"));
  return { cert: join(dir, "fulcio-ca.crt"), key: join(dir, "fulcio-ca.key") };
}

/** The CT log's signing key: ECDSA P-256, SEC 1 PEM (what TesseraCT reads). */
export async function generateCtKey(file) {
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", file]);
}
