#!/usr/bin/env node
// The declarative flow on the local control plane: an administrator sets up a Publisher (signing key,
// destination, source policy) and the tenancy rules; a tenant (the user alice) publishes a Capsule
// through it and is refused what she may not do; a grant issuer (bob) mints a CapabilityGrant into a
// Secret, which is revoked when the grant is deleted.
import { execFileSync, spawn, spawnSync } from "node:child_process";
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
  // kubectl as one of the test users (a token with only the RBAC the demo gives it).
  const kubectlAs = (user, args, input) => {
    console.log(`$ kubectl (as ${user}) ${args.join(" ")}`);
    return spawnSync(
      env.QCAP_KUBECTL,
      ["--kubeconfig", env[`QCAP_KUBECONFIG_${user.toUpperCase()}`], ...args],
      { encoding: "utf8", input },
    );
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
    step("The administrator: CRDs, admission policies and tenant roles, a namespace, keys, Secrets");
    show(kubectl("apply", "-f", join(root, "crds")));
    const chartPart = execFileSync(
      env.QCAP_HELM,
      [
        "template",
        "qcap",
        join(root, "charts", "qcap-operator"),
        "--show-only",
        "templates/admission-policies.yaml",
        "--show-only",
        "templates/tenant-roles.yaml",
      ],
      { encoding: "utf8" },
    );
    writeFileSync(at("tenancy.yaml"), chartPart);
    show(kubectl("apply", "-f", at("tenancy.yaml")));
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

    step("The administrator: the Publisher, the ServiceAccount qcap and its Role (examples/publisher.yaml)");
    const publisherYaml = readFileSync(join(root, "examples", "publisher.yaml"), "utf8")
      .replace("https://s3.example.com", env.AWS_ENDPOINT_URL)
      .replace("bucket: qcap-public", `bucket: ${BUCKET}`);
    writeFileSync(at("publisher.yaml"), publisherYaml);
    show(kubectl("-n", NS, "apply", "-f", at("publisher.yaml")));
    // alice authors Capsules and may use this Publisher; bob issues grants. Neither may read Secrets.
    const rbac = {
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: { name: "survey-authors" },
          rules: [
            {
              apiGroups: ["qcap.dev"],
              resources: ["publishers"],
              resourceNames: ["survey-publisher"],
              verbs: ["use"],
            },
            {
              apiGroups: [""],
              resources: ["configmaps"],
              verbs: ["get", "list", "create", "update", "patch"],
            },
          ],
        },
        ...[
          ["alice", "Role", "survey-authors"],
          ["alice", "ClusterRole", "qcap-capsule-author"],
          ["bob", "ClusterRole", "qcap-grant-issuer"],
        ].map(([user, kind, name]) => ({
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name: `${user}-${name}` },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind, name },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
        })),
      ],
    };
    writeFileSync(at("tenants.json"), JSON.stringify(rbac, null, 2));
    show(kubectl("-n", NS, "apply", "-f", at("tenants.json")));
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

    step("The tenant alice publishes examples/capsule.yaml through the Publisher");
    const asAlice = (args, input) => {
      const r = kubectlAs("alice", args, input);
      process.stdout.write(r.stdout + r.stderr);
      return r;
    };
    if (
      asAlice(["-n", NS, "create", "configmap", "survey-recipients", `--from-file=${at("recipients.txt")}`])
        .status
    )
      throw new Error("alice could not create the recipients ConfigMap");
    const capsuleYaml = readFileSync(join(root, "examples", "capsule.yaml"), "utf8");
    if (asAlice(["-n", NS, "apply", "-f", "-"], capsuleYaml).status)
      throw new Error("alice could not apply the Capsule");
    show(kubectl("-n", NS, "wait", "--for=condition=Ready", "capsule/survey", "--timeout=180s"));
    show(kubectl("-n", NS, "get", "qcap", "-o", "wide"));
    const artifact = JSON.parse(kubectl("-n", NS, "get", "capsule", "survey", "-o", "json")).status.artifact;
    const key = new URL(artifact.url).pathname.split("/").slice(2).join("/");
    const obj = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    writeFileSync(at("survey.qcap"), Buffer.from(await obj.Body.transformToByteArray()));
    console.log(`downloaded s3://${BUCKET}/${key} (${artifact.size} bytes)`);
    qcap("verify", at("survey.qcap"), "--trust", at("publisher.key"));
    qcap("open", at("survey.qcap"), "-o", at("reader-out"), "-i", at("reader.key"));

    step("alice may not pack the signing key (she cannot read the Secret): refused at admission");
    const exfil = JSON.stringify({
      apiVersion: "qcap.dev/v1alpha1",
      kind: "Capsule",
      metadata: { name: "exfil" },
      spec: {
        publisherRef: { name: "survey-publisher" },
        sources: [{ secret: { name: "qcap-signing-key" } }],
        recipients: [{ key: recipientOf("analyst") }],
      },
    });
    if (asAlice(["-n", NS, "create", "-f", "-"], exfil).status === 0)
      throw new Error("UNEXPECTED: the Secret source was accepted");

    step("Grant the analyst (not a recipient) the counts only, with examples/grant.yaml (as bob)");
    const grantYaml = readFileSync(join(root, "examples", "grant.yaml"), "utf8").replace(
      /audience: age1\S+/,
      `audience: ${recipientOf("analyst")}`,
    );
    writeFileSync(at("grant.yaml"), grantYaml);
    // alice may not grant; bob (qcap-grant-issuer) may.
    const r = kubectlAs("alice", ["-n", NS, "apply", "-f", at("grant.yaml")]);
    process.stdout.write(r.stdout + r.stderr);
    if (r.status === 0) throw new Error("UNEXPECTED: alice could grant");
    const b = kubectlAs("bob", ["-n", NS, "apply", "-f", at("grant.yaml")]);
    process.stdout.write(b.stdout + b.stderr);
    if (b.status) throw new Error("bob could not apply the grant");
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
