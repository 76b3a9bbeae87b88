#!/usr/bin/env node
// The declarative flow on the local control plane: the operator publishes a Capsule to S3 from
// Kubernetes resources, mints a CapabilityGrant into a Secret, and revokes it when the grant is deleted.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";

const root = join(import.meta.dirname, "..");
const cli = join(root, "core", "dist", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "qcap-cluster-demo-"));
const at = (...p) => join(work, ...p);
const NS = "demo";
const BUCKET = "qcap-demo";

const step = (s) => console.log(`\n== ${s}`);
const node = (args, opts = {}) => execFileSync(process.execPath, args, { encoding: "utf8", ...opts });
const testenv = (...args) => node([join(root, "testenv", "cli.mjs"), ...args], { stdio: "inherit" });

function qcap(...args) {
  console.log(`$ qcap ${args.map((a) => a.replace(work, "$DEMO")).join(" ")}`);
  const r = spawnSyncQuiet(process.execPath, [cli, ...args]);
  process.stdout.write(r.stdout);
  if (r.stderr) process.stdout.write(r.stderr);
  return r;
}

function spawnSyncQuiet(cmd, args) {
  try {
    return {
      code: 0,
      stdout: execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }),
      stderr: "",
    };
  } catch (e) {
    return { code: e.status ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function main() {
  step("Local control plane (the first run builds the servers from pinned Go modules: about 15 minutes)");
  testenv("build");
  testenv("up", "--dir", at("env"));
  const env = Object.fromEntries(
    readFileSync(at("env", "env"), "utf8")
      .split("\n")
      .map((l) => /^export ([A-Z0-9_]+)=(.*)$/.exec(l))
      .filter(Boolean)
      .map((m) => [m[1], m[2].replace(/^'(.*)'$/, "$1")]),
  );
  Object.assign(process.env, env);
  const kubectl = (...args) => {
    console.log(`$ kubectl ${args.join(" ")}`);
    return execFileSync(env.QCAP_KUBECTL, args, { encoding: "utf8", env: process.env });
  };
  const show = (s) => process.stdout.write(s);
  const openAsAnalyst = (out, ...extra) =>
    qcap(
      "open",
      at("survey.qcap"),
      "--cap",
      at("cap.json"),
      "-i",
      at("analyst.key"),
      "--purpose",
      "research",
      "-o",
      at(out),
      ...extra,
    );
  let operator;
  try {
    step("CRDs, namespace, keys, Secrets and a bucket");
    show(kubectl("apply", "-f", join(root, "crds")));
    show(kubectl("create", "namespace", NS));
    for (const k of ["publisher", "reader", "analyst"])
      node([cli, "keygen", "--unprotected", "-o", at(`${k}.key`)]);
    const recipientOf = (k) => JSON.parse(readFileSync(at(`${k}.key`), "utf8")).public.recipient;
    writeFileSync(at("recipients.txt"), `${recipientOf("reader")}\n`);
    show(
      kubectl(
        "-n",
        NS,
        "create",
        "secret",
        "generic",
        "qcap-signing-key",
        `--from-file=signing.key=${at("publisher.key")}`,
      ),
    );
    show(
      kubectl(
        "-n",
        NS,
        "create",
        "secret",
        "generic",
        "qcap-s3-credentials",
        `--from-literal=AWS_ACCESS_KEY_ID=${env.AWS_ACCESS_KEY_ID}`,
        `--from-literal=AWS_SECRET_ACCESS_KEY=${env.AWS_SECRET_ACCESS_KEY}`,
      ),
    );
    show(
      kubectl("-n", NS, "create", "configmap", "survey-recipients", `--from-file=${at("recipients.txt")}`),
    );
    const s3 = new S3Client({ endpoint: env.AWS_ENDPOINT_URL, region: env.AWS_REGION, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));

    step("The operator, out of cluster with the admin kubeconfig");
    const log = openSync(at("operator.log"), "w");
    operator = spawn(
      process.execPath,
      [
        join(root, "operator", "dist", "main.js"),
        "--kubeconfig",
        env.KUBECONFIG,
        "--namespaces",
        NS,
        "--no-leader-elect",
        "--listen",
        "127.0.0.1:0",
      ],
      { stdio: ["ignore", log, log] },
    );

    step("Publish examples/capsule.yaml");
    const capsuleYaml = readFileSync(join(root, "examples", "capsule.yaml"), "utf8")
      .replace("https://s3.example.com", env.AWS_ENDPOINT_URL)
      .replace("bucket: qcap-public", `bucket: ${BUCKET}`);
    writeFileSync(at("capsule.yaml"), capsuleYaml);
    show(kubectl("-n", NS, "apply", "-f", at("capsule.yaml")));
    show(kubectl("-n", NS, "wait", "--for=condition=Ready", "capsule/survey", "--timeout=180s"));
    show(kubectl("-n", NS, "get", "qcap", "-o", "wide"));
    const artifact = JSON.parse(kubectl("-n", NS, "get", "capsule", "survey", "-o", "json")).status.artifact;
    const key = new URL(artifact.url).pathname.split("/").slice(2).join("/");
    const obj = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    writeFileSync(at("survey.qcap"), Buffer.from(await obj.Body.transformToByteArray()));
    console.log(`downloaded s3://${BUCKET}/${key} (${artifact.size} bytes)`);
    qcap("verify", at("survey.qcap"), "--trust", at("publisher.key"));
    qcap("open", at("survey.qcap"), "-o", at("reader-out"), "-i", at("reader.key"));

    step("Grant the analyst (not a recipient) the counts only, with examples/grant.yaml");
    const grantYaml = readFileSync(join(root, "examples", "grant.yaml"), "utf8").replace(
      /audience: age1\S+/,
      `audience: ${recipientOf("analyst")}`,
    );
    writeFileSync(at("grant.yaml"), grantYaml);
    show(kubectl("-n", NS, "apply", "-f", at("grant.yaml")));
    show(
      kubectl("-n", NS, "wait", "--for=condition=Ready", "capabilitygrant/survey-reader", "--timeout=120s"),
    );
    const cap = kubectl(
      "-n",
      NS,
      "get",
      "secret",
      "survey-reader-grant",
      "-o",
      "jsonpath={.data.cap\\.json}",
    );
    writeFileSync(at("cap.json"), Buffer.from(cap, "base64"));
    qcap("inspect", at("cap.json"));
    openAsAnalyst("analyst-out");

    step("Delete the grant: its token id is added to the signed revocations.json");
    const tokenId = JSON.parse(kubectl("-n", NS, "get", "capabilitygrant", "survey-reader", "-o", "json"))
      .status.tokenId;
    show(kubectl("-n", NS, "delete", "capabilitygrant", "survey-reader", "--timeout=120s"));
    let revoked = false;
    for (let i = 0; i < 60 && !revoked; i++) {
      const r = await s3
        .send(new GetObjectCommand({ Bucket: BUCKET, Key: "registry/revocations.json" }))
        .catch(() => null);
      const text = r ? await r.Body.transformToString() : "";
      writeFileSync(at("revocations.json"), text);
      revoked = text.includes(tokenId);
      if (!revoked) await new Promise((r) => setTimeout(r, 1000));
    }
    const denied = openAsAnalyst("analyst-again", "--revocations", at("revocations.json"));
    console.log(
      denied.code === 1
        ? "\nThe revoked grant is refused (exit 1), as it should be."
        : "\nUNEXPECTED: the revoked grant still opens!",
    );
    process.exitCode = denied.code === 1 ? 0 : 1;
  } catch (e) {
    console.error(`demo failed: ${e.message}\n(operator log: ${at("operator.log")})`);
    process.exitCode = 1;
  } finally {
    operator?.kill("SIGTERM");
    testenv("down", "--dir", at("env"));
  }
}

await main();
