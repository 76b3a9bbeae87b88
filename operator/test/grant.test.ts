// CapabilityGrant end to end: minted into a Secret, opens only the granted paths for its audience,
// re-minted when the capsule is republished, renewed before expiry, revoked on deletion (the token id
// appears in the republished, re-signed revocations.json and `qcap open` refuses it), and expiry.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apply,
  type CapsuleView,
  condition,
  ensureBucket,
  env,
  events,
  example,
  exampleNamespace,
  getJson,
  getObject,
  kubectl,
  makeKey,
  mergePatch,
  must,
  type OperatorProcess,
  QCAP_CLI,
  run,
  s3Client,
  startOperator,
  type TestKey,
  uniqueBucket,
  waitFor,
  waitReady,
} from "./support.ts";

const BUCKET = uniqueBucket("grant");
const s3 = s3Client();
let ns: string;
let dir: string;
let publisher: TestKey;
let reader: TestKey;
let analyst: TestKey;
let op: OperatorProcess;
const EXAMPLE_AUDIENCE = "age1smw4pm2kxqzka9zqh8v60e6lvatt943q6ug49qcxz9rkgalgg9equh03k3";

interface GrantView extends CapsuleView {
  metadata: CapsuleView["metadata"] & { uid: string };
  status?: CapsuleView["status"] & {
    tokenId?: string;
    notAfter?: string;
    renewalTime?: string;
    capsuleRevision?: string;
    revokedTokenIds?: string[];
    supersededTokens?: { id: string; notAfter: string }[];
  };
}
interface SecretView {
  metadata: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  data: Record<string, string>;
}

// The CLI keeps the highest revocation-list sequence seen per issuer in its state folder.
const qcap = (args: string[]) =>
  run(process.execPath, [QCAP_CLI, ...args], { env: { ...process.env, QCAP_STATE_DIR: join(dir, "state") } });

beforeAll(async () => {
  await ensureBucket(s3, BUCKET);
  ({ ns, dir, publisher, reader } = await exampleNamespace("grant", BUCKET));
  analyst = makeKey(dir, "analyst");
  op = startOperator(ns);
  await apply(ns, example("capsule.yaml", {}, BUCKET));
});

afterAll(async () => {
  await op?.kill("SIGKILL");
});

async function download(key: string, name: string) {
  const file = join(dir, name);
  writeFileSync(file, await getObject(s3, BUCKET, key));
  return file;
}

async function grantFile(name: string, secret = "survey-reader-grant") {
  const s = await getJson<SecretView>(["-n", ns, "get", "secret", secret]);
  const file = join(dir, name);
  writeFileSync(file, Buffer.from(s.data["cap.json"] as string, "base64"));
  return { file, secret: s };
}

const revocations = async () =>
  JSON.parse((await getObject(s3, BUCKET, "registry/revocations.json")).toString());

describe("CapabilityGrant", () => {
  let capsule: CapsuleView;
  let grant: GrantView;
  let capFile: string;

  it("mints the example grant into a Secret with an owner reference", async () => {
    capsule = await waitReady<CapsuleView>(ns, "capsule/survey");
    // The registry already holds an empty signed revocation list.
    const empty = await revocations();
    expect(empty).toMatchObject({ type: "qcap-revocations", issuer: publisher.publicHex, revoked: [] });

    await apply(ns, example("grant.yaml", { [EXAMPLE_AUDIENCE]: analyst.recipient }, BUCKET));
    grant = await waitReady<GrantView>(ns, "capabilitygrant/survey-reader");
    const st = grant.status ?? {};
    expect(st.tokenId).toMatch(/^[0-9a-f]{32}$/);
    expect(st.capsuleRevision).toBe(capsule.status?.artifact?.root);
    expect(condition(grant, "Ready")?.reason).toBe("Minted");
    expect(st.conditions?.map((c) => c.type)).toEqual(["Ready"]);
    // 720h lifetime, renewal 240h before the end.
    const notAfter = Date.parse(st.notAfter as string);
    expect(Math.abs(notAfter - Date.now() - 720 * 3_600_000)).toBeLessThan(120_000);
    expect(notAfter - Date.parse(st.renewalTime as string)).toBe(240 * 3_600_000);

    const { file, secret } = await grantFile("cap.json");
    capFile = file;
    expect(secret.metadata.labels?.["qcap.dev/managed-by"]).toBe("qcap-operator");
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: "CapabilityGrant",
        name: "survey-reader",
        uid: grant.metadata.uid,
        controller: true,
      }),
    ]);
    expect(secret.metadata.annotations?.["qcap.dev/token-id"]).toBe(st.tokenId);
    const inspected = JSON.parse(must(await qcap(["inspect", file, "--json"]), "inspect cap.json"));
    expect(JSON.stringify(inspected)).toContain(st.tokenId as string);

    // Token material is nowhere but in the Secret.
    const macaroon = JSON.parse(readFileSync(file, "utf8")).macaroon;
    const everything = [
      op.logText(),
      JSON.stringify(grant),
      JSON.stringify(await events(ns, "survey-reader")),
    ].join("\n");
    expect(everything).not.toContain(JSON.stringify(macaroon).slice(1, -1).slice(0, 40));
    expect(everything).not.toContain(JSON.parse(readFileSync(file, "utf8")).keys.ciphertext.slice(0, 32));
  });

  it("the grant opens only the granted paths, for its audience only", async () => {
    const file = await download(capsule.status?.artifact?.key as string, "survey.qcap");
    const out = join(dir, "granted");
    must(
      await qcap(["open", file, "--cap", capFile, "-i", analyst.file, "--purpose", "research", "-o", out]),
      "open with the grant",
    );
    expect(readFileSync(join(out, "counts/north.csv"), "utf8")).toContain("Parus major");
    expect(existsSync(join(out, "counts/south.csv"))).toBe(true);
    expect(existsSync(join(out, "README.md"))).toBe(false);
    expect(existsSync(join(out, "LICENSE.txt"))).toBe(false);
    // The analyst is not a recipient: without the grant nothing opens; someone else cannot use the grant.
    expect((await qcap(["open", file, "-i", analyst.file, "-o", join(dir, "x1")])).code).toBe(1);
    expect(
      (
        await qcap([
          "open",
          file,
          "--cap",
          capFile,
          "-i",
          reader.file,
          "--purpose",
          "research",
          "-o",
          join(dir, "x2"),
        ])
      ).code,
    ).toBe(1);
  });

  it("re-mints the grant when the capsule is republished", async () => {
    const before = grant.status?.tokenId;
    await mergePatch(ns, "configmap", "survey-data", { data: { "south.csv": "S1,z,3\n" } });
    grant = await waitFor("a re-minted grant", async () => {
      const g = await getJson<GrantView>(["-n", ns, "get", "capabilitygrant/survey-reader"]);
      return g.status?.tokenId !== before && condition(g, "Ready")?.status === "True" ? g : undefined;
    });
    capsule = await getJson<CapsuleView>(["-n", ns, "get", "capsule/survey"]);
    expect(grant.status?.capsuleRevision).toBe(capsule.status?.artifact?.root);
    expect(grant.status?.supersededTokens?.map((t) => t.id)).toContain(before);
    const { file } = await grantFile("cap2.json");
    capFile = file;
    const capsuleFile = await download(capsule.status?.artifact?.key as string, "survey2.qcap");
    const out = join(dir, "granted2");
    must(
      await qcap([
        "open",
        capsuleFile,
        "--cap",
        file,
        "-i",
        analyst.file,
        "--purpose",
        "research",
        "-o",
        out,
      ]),
      "open",
    );
    expect(readFileSync(join(out, "counts/south.csv"), "utf8")).toBe("S1,z,3\n");
  });

  it("deleting the grant revokes its tokens in a re-signed revocations.json and deletes the Secret", async () => {
    const capsuleFile = join(dir, "survey2.qcap");
    // The grant's audience opens the capsule with it, against a given revocation list.
    const openAsAnalyst = (revocationsFile: string, out: string) =>
      qcap([
        "open",
        capsuleFile,
        "--cap",
        capFile,
        "-i",
        analyst.file,
        "--purpose",
        "research",
        "--revocations",
        revocationsFile,
        "-o",
        join(dir, out),
      ]);
    const listBefore = await revocations();
    const revFile0 = join(dir, "revocations0.json");
    writeFileSync(revFile0, JSON.stringify(listBefore));
    must(await openAsAnalyst(revFile0, "ok"), "open before revocation");

    const ids = [grant.status?.tokenId, ...(grant.status?.supersededTokens ?? []).map((t) => t.id)];
    must(await kubectl(["-n", ns, "delete", "capabilitygrant", "survey-reader", "--wait=false"]), "delete");
    await waitFor(
      "the grant to be gone",
      async () => (await kubectl(["-n", ns, "get", "capabilitygrant", "survey-reader"])).code !== 0,
    );
    const list = await revocations();
    expect(list.sequence).toBeGreaterThan(listBefore.sequence);
    expect(list.revoked.map((r: { id: string }) => r.id)).toEqual(expect.arrayContaining(ids));
    expect((await kubectl(["-n", ns, "get", "secret", "survey-reader-grant"])).code).not.toBe(0);

    const revFile = join(dir, "revocations.json");
    writeFileSync(revFile, JSON.stringify(list));
    const refused = await openAsAnalyst(revFile, "no");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/revoked/);
    // The older list is now a rollback for this reader.
    expect((await openAsAnalyst(revFile0, "no2")).code).toBe(1);
  });

  it("renews before expiry, and a grant past its fixed expiry is Ready=False Expired", async () => {
    const renewing = {
      apiVersion: "qcap.dev/v1alpha1",
      kind: "CapabilityGrant",
      metadata: { name: "short" },
      spec: {
        capsuleRef: { name: "survey" },
        audience: analyst.recipient,
        duration: "6s",
        renewBefore: "3s",
        secretName: "short-grant",
        secretDeletionPolicy: "Retain",
        publish: true,
      },
    };
    await apply(ns, JSON.stringify(renewing));
    const g1 = await waitReady<GrantView>(ns, "capabilitygrant/short");
    const g2 = await waitFor(
      "a renewal",
      async () => {
        const g = await getJson<GrantView>(["-n", ns, "get", "capabilitygrant/short"]);
        return g.status?.tokenId !== g1.status?.tokenId && condition(g, "Ready")?.status === "True"
          ? g
          : undefined;
      },
      30_000,
    );
    expect(Date.parse(g2.status?.notAfter as string)).toBeGreaterThan(
      Date.parse(g1.status?.notAfter as string),
    );
    const s = await getJson<SecretView>(["-n", ns, "get", "secret", "short-grant"]);
    expect(s.metadata.annotations?.["qcap.dev/token-id"]).toBe(g2.status?.tokenId);

    const expiring = {
      ...renewing,
      metadata: { name: "expiring" },
      spec: {
        ...renewing.spec,
        duration: undefined,
        renewBefore: undefined,
        expiresAt: new Date(Date.now() + 8000).toISOString().replace(/\.\d+Z$/, "Z"),
        secretName: "expiring-grant",
      },
    };
    await apply(ns, JSON.stringify(expiring));
    await waitReady<GrantView>(ns, "capabilitygrant/expiring");
    const expired = await waitReady<GrantView>(ns, "capabilitygrant/expiring", "False", "Expired", 30_000);
    expect(condition(expired, "Ready")?.message).toContain("expired");

    // Published in the bucket too (the keys in it are wrapped to the audience).
    const published = await getObject(s3, BUCKET, `registry/grants/${g2.status?.tokenId}.json`);
    expect(JSON.parse(published.toString()).issued.id).toBe(g2.status?.tokenId);

    // revoked: true puts the current token in the list without deleting anything.
    await mergePatch(
      ns,
      "capabilitygrant",
      "short",
      { spec: { revoked: true, revocationReason: "key compromised" } },
      "revoke",
    );
    const revoked = await waitReady<GrantView>(ns, "capabilitygrant/short", "False", "Revoked");
    const ids = (await revocations()).revoked.map((r: { id: string }) => r.id);
    expect(ids).toEqual(expect.arrayContaining(revoked.status?.revokedTokenIds ?? ["none"]));
    expect(revoked.status?.revokedTokenIds).toContain(revoked.status?.tokenId);
    expect(
      (await revocations()).revoked.find((r: { id: string }) => r.id === revoked.status?.tokenId)?.reason,
    ).toBe("key compromised");

    // Retain: deleting the grant keeps its Secret, without the owner reference.
    must(await kubectl(["-n", ns, "delete", "capabilitygrant", "short"]), "delete short");
    const kept = await getJson<SecretView>(["-n", ns, "get", "secret", "short-grant"]);
    expect(kept.metadata.ownerReferences ?? []).toEqual([]);
    expect(op.alive).toBe(true);
    void env;
  });
});
