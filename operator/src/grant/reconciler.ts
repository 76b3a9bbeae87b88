/**
 * CapabilityGrant reconciler: mints a grant (core `issueGrant`) for the current revision of the
 * Capsule into the named Secret, renews it before it expires, re-mints it when the Capsule is
 * republished, and on revocation or deletion adds its token ids to the registry's signed
 * revocations.json. The Secret is written only after a new grant was minted; token material never
 * reaches the status, events or logs (token ids are public: they are what revocation lists hold).
 */
import { Capsule, issueGrant, parseRecipient, QcapError, serializeGrant, unlockMasterKey } from "@qcap/core";
import { describeGrant } from "@qcap/core/grant";
import type { CapsuleObject } from "../api/capsule.js";
import { API_VERSION } from "../api/common.js";
import type { GrantObject } from "../api/grant.js";
import { capsulePath, grantPath } from "../api/paths.js";
import { GRANT_SECRET_LABEL } from "../controller-labels.js";
import { parseDuration } from "../duration.js";
import { isNotFound, type KubeClient, type KubeObject, paths } from "../kube/client.js";
import {
  type Condition,
  getCondition,
  notReady,
  progressing,
  READY,
  RECONCILING,
  ReconcileError,
  ready,
} from "../kube/conditions.js";
import type { EventRecorder } from "../kube/events.js";
import type { Outcome } from "../kube/queue.js";
import { errorMessage, type Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { ReconciledKind } from "../reconcile-common.js";
import { classify, destinationCall } from "../reconcile-errors.js";
import { publishGrant } from "../registry/grants.js";
import { ensureRevocations } from "../registry/revocations.js";
import { s3Source } from "../s3/source.js";
import { actingServiceAccount, selfAccessCheck } from "../tenancy/access.js";
import type { AdmissionPolicyProbe } from "../tenancy/admission.js";
import { admissionNote } from "../tenancy/admission.js";
import { authorizeGrant, checkGrantPolicy } from "../tenancy/policy.js";
import type { Publishing } from "../tenancy/publishing.js";

export const GRANT_FINALIZER = "qcap.dev/grant-finalizer";
export const GRANT_SECRET_KEY = "cap.json";
const DEFAULT_DURATION = "720h";
const MAX_REQUEUE_MS = 12 * 3_600_000;

export { grantPath };

export interface GrantReconcilerDeps {
  kube: KubeClient;
  events: EventRecorder;
  log: Logger;
  metrics: Metrics;
  /** What grants need of Capsules (the Capsule reconciler provides it). */
  capsules: {
    defaultServiceAccount: string;
    admission: AdmissionPolicyProbe;
    publishing(capsule: CapsuleObject): Promise<Publishing>;
  };
  /** The current time in ms (tests of expiry use the real clock; this is for clarity). */
  now?: () => number;
}

interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

export class GrantReconciler {
  private readonly kind: ReconciledKind<GrantObject>;

  constructor(private readonly d: GrantReconcilerDeps) {
    this.kind = new ReconciledKind({
      ...d,
      kind: "CapabilityGrant",
      path: grantPath,
      finalizer: GRANT_FINALIZER,
    });
  }

  private now() {
    return this.d.now?.() ?? Date.now();
  }

  async reconcile(namespace: string, name: string): Promise<Outcome | undefined> {
    const grant = await this.kind.get(namespace, name);
    if (!grant) return undefined;
    const log = this.d.log.child({ grant: `${namespace}/${name}` });
    if (grant.metadata.deletionTimestamp) {
      await this.finalize(grant, log);
      return undefined;
    }
    if (!this.kind.hasFinalizer(grant)) {
      await this.kind.addFinalizer(grant);
      return undefined;
    }
    try {
      await this.kind.observe(grant);
      return await this.converge(grant, log);
    } catch (err) {
      const e =
        err instanceof QcapError && err.kind === "usage"
          ? new ReconcileError("InvalidGrant", err.message, true)
          : classify(err);
      await this.kind.reportFailure(grant, e, log);
      if (e.permanent) return undefined;
      throw e;
    }
  }

  private async converge(grant: GrantObject, log: Logger): Promise<Outcome | undefined> {
    const { namespace, generation } = grant.metadata;
    const spec = grant.spec;
    const st = grant.status ?? {};
    const now = this.now();

    if (spec.revoked) {
      if (st.tokenId && !(st.revokedTokenIds ?? []).includes(st.tokenId)) {
        const ids = await this.revoke(grant, spec.revocationReason ?? "revoked", log);
        await this.kind.writeStatus(grant, {
          ...st,
          observedGeneration: generation,
          revokedTokenIds: ids,
          conditions: notReady(
            st.conditions as Condition[],
            "Revoked",
            `revoked token ${st.tokenId}`,
            generation,
          ),
        });
      } else if (getCondition(st.conditions as Condition[], READY)?.reason !== "Revoked") {
        await this.kind.writeStatus(grant, {
          ...st,
          observedGeneration: generation,
          conditions: notReady(st.conditions as Condition[], "Revoked", "the grant is revoked", generation),
        });
      }
      return undefined;
    }

    const fixedExpiry = spec.expiresAt ? Date.parse(spec.expiresAt) : undefined;
    if (fixedExpiry !== undefined && now >= fixedExpiry) {
      if (
        getCondition(st.conditions as Condition[], READY)?.reason !== "Expired" ||
        st.observedGeneration !== generation
      ) {
        await this.kind.writeStatus(grant, {
          ...st,
          observedGeneration: generation,
          conditions: notReady(
            st.conditions as Condition[],
            "Expired",
            `the grant expired at ${spec.expiresAt}`,
            generation,
          ),
        });
        await this.kind.event(grant, "Warning", "Expired", `the grant expired at ${spec.expiresAt}`);
      }
      return undefined;
    }

    let capsule: CapsuleObject;
    try {
      capsule = await this.d.kube.get<CapsuleObject>(capsulePath(namespace, spec.capsuleRef.name));
    } catch (err) {
      if (isNotFound(err))
        throw new ReconcileError(
          "CapsuleNotFound",
          `Capsule "${spec.capsuleRef.name}" not found in namespace "${namespace}"`,
        );
      throw err;
    }
    // Minting opens the Capsule for the audience: only for an identity allowed to grant it.
    const sa = actingServiceAccount(grant, this.d.capsules.defaultServiceAccount);
    await authorizeGrant(
      selfAccessCheck(this.d.kube.as(sa.user)),
      `ServiceAccount "${sa.namespace}/${sa.name}"`,
      namespace,
      spec.capsuleRef.name,
    );
    const artifact = capsule.status?.artifact;
    if (!artifact) {
      throw new ReconcileError(
        "CapsuleNotReady",
        `Capsule "${spec.capsuleRef.name}" has no published revision yet`,
      );
    }

    const secret = await this.readSecret(namespace, spec.secretName);
    const secretTokenId = secret?.metadata.annotations?.["qcap.dev/token-id"];
    const renewAt = st.renewalTime ? Date.parse(st.renewalTime) : 0;
    const needed =
      !st.tokenId ||
      st.capsuleRevision !== artifact.root ||
      st.observedGeneration !== generation ||
      now >= renewAt ||
      secretTokenId !== st.tokenId ||
      getCondition(st.conditions as Condition[], READY)?.status !== "True" ||
      // Work of an earlier pass that did not finish (a new generation, a crash mid-mint).
      getCondition(st.conditions as Condition[], RECONCILING) !== undefined;
    if (!needed) return { requeueAfterMs: Math.min(Math.max(renewAt - now, 1000), MAX_REQUEUE_MS) };
    if (secret && !this.isOurs(secret, grant)) {
      throw new ReconcileError(
        "SecretConflict",
        `Secret "${spec.secretName}" exists and is not managed by this grant; choose another secretName`,
        true,
      );
    }

    await this.kind.writeStatus(grant, {
      ...st,
      observedGeneration: generation,
      conditions: progressing(
        st.conditions as Condition[],
        "Minting",
        `minting a grant for root ${artifact.root}`,
        generation,
      ),
    });

    // Lifetime and renewal: a duration is renewed at 2/3 of it unless renewBefore says otherwise.
    const lifetime =
      fixedExpiry !== undefined ? fixedExpiry - now : parseDuration(spec.duration ?? DEFAULT_DURATION);
    const notAfter = fixedExpiry ?? now + lifetime;
    let renewBefore = spec.renewBefore ? parseDuration(spec.renewBefore) : Math.floor(lifetime / 3);
    if (renewBefore >= lifetime) renewBefore = Math.floor(lifetime / 3);
    const renewalTime = fixedExpiry !== undefined ? notAfter : notAfter - renewBefore;
    checkGrantPolicy(
      capsule.spec.grantPolicy,
      { audience: spec.audience, paths: spec.paths, lifetimeMs: lifetime },
      capsule.metadata.name,
      parseDuration,
    );

    const publishing = await this.d.capsules.publishing(capsule);
    const dest = publishing.dest;
    const material = await publishing.signing();
    if (material.identities.length === 0) {
      throw new ReconcileError(
        "NoIssuerIdentity",
        `the signing key Secret of ${publishing.publisher.label} must be a Q-Cap key file (signing key and identity) for the operator to mint grants`,
        true,
      );
    }
    const source = await destinationCall("read the capsule", () =>
      s3Source(dest.client, dest.loc.bucket, artifact.key),
    );
    const opened = await Capsule.open(source, { trust: [material.signingKey.publicKey] });
    if (opened.manifest.root !== artifact.root) {
      throw new ReconcileError(
        "CapsuleNotReady",
        "the published artifact is not the revision in the Capsule's status yet",
      );
    }
    let masterKey: Uint8Array;
    try {
      masterKey = await unlockMasterKey(opened, { identities: material.identities });
    } catch {
      throw new ReconcileError(
        "NoIssuerIdentity",
        "the publisher's identity cannot open this revision (was it sealed before the key file held an identity?)",
      );
    }
    const minted = await issueGrant(opened, masterKey, {
      signingKey: material.signingKey,
      audience: parseRecipient(spec.audience),
      allow: spec.allow ?? "read",
      paths: spec.paths?.map((p) => (p.startsWith("payload/") ? p : `payload/${p}`)),
      expires: notAfter,
      purpose: spec.purpose,
      now,
    });
    masterKey.fill(0);
    const text = serializeGrant(minted);
    const tokenId = minted.issued.id;
    const described = describeGrant(minted);

    await this.writeSecret(grant, secret, text, {
      tokenId,
      root: artifact.root,
      notAfter: rfc3339(notAfter),
    });
    if (spec.publish) {
      await destinationCall("publish the grant", () => publishGrant(dest.loc, tokenId, text));
    }
    this.d.metrics.grants.inc();
    const superseded = [...(st.supersededTokens ?? [])].filter((t) => Date.parse(t.notAfter) > now);
    if (st.tokenId && st.notAfter && Date.parse(st.notAfter) > now)
      superseded.push({ id: st.tokenId, notAfter: st.notAfter });
    const message = `token ${tokenId} for root ${artifact.root.slice(0, 16)}…, valid until ${rfc3339(notAfter)}`;
    await this.kind.writeStatus(grant, {
      observedGeneration: generation,
      tokenId,
      notAfter: rfc3339(notAfter),
      renewalTime: rfc3339(renewalTime),
      capsuleRevision: artifact.root,
      supersededTokens: superseded.slice(-64),
      revokedTokenIds: st.revokedTokenIds,
      conditions: ready(
        st.conditions as Condition[],
        "Minted",
        message + admissionNote(await this.d.capsules.admission.state("grants")),
        generation,
      ),
    });
    const what = st.tokenId
      ? st.capsuleRevision !== artifact.root
        ? "re-minted for a new revision"
        : "renewed"
      : "minted";
    log.info(`grant ${what}`, {
      tokenId,
      root: artifact.root,
      notAfter: rfc3339(notAfter),
      paths: described.paths,
    });
    await this.kind.event(grant, "Normal", "Minted", `${what}: ${message}`);
    return { requeueAfterMs: Math.min(Math.max(renewalTime - now, 1000), MAX_REQUEUE_MS) };
  }

  private isOurs(secret: SecretObject, grant: GrantObject): boolean {
    return (
      secret.metadata.labels?.[GRANT_SECRET_LABEL] === "qcap-operator" &&
      (secret.metadata.ownerReferences ?? []).some(
        (r) => r.kind === "CapabilityGrant" && r.uid === grant.metadata.uid,
      )
    );
  }

  private async readSecret(namespace: string, name: string): Promise<SecretObject | null> {
    try {
      return await this.d.kube.get<SecretObject>(paths.secret(namespace, name));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  private async writeSecret(
    grant: GrantObject,
    existing: SecretObject | null,
    text: string,
    info: { tokenId: string; root: string; notAfter: string },
  ) {
    const { namespace, name, uid } = grant.metadata;
    const body: SecretObject = {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: grant.spec.secretName,
        namespace,
        labels: { [GRANT_SECRET_LABEL]: "qcap-operator", "qcap.dev/grant": name },
        annotations: {
          "qcap.dev/token-id": info.tokenId,
          "qcap.dev/capsule-root": info.root,
          "qcap.dev/not-after": info.notAfter,
        },
        ownerReferences: [
          {
            apiVersion: API_VERSION,
            kind: "CapabilityGrant",
            name,
            uid: uid as string,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
        ...(existing ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      data: { [GRANT_SECRET_KEY]: Buffer.from(text, "utf8").toString("base64") },
    };
    if (existing) await this.d.kube.replace(paths.secret(namespace, grant.spec.secretName), body);
    else await this.d.kube.create(paths.secret(namespace), body);
  }

  /** Adds the grant's token ids to the revocation list of its capsule's registry. */
  private async revoke(grant: GrantObject, reason: string, log: Logger): Promise<string[]> {
    const st = grant.status ?? {};
    const ids = [
      ...new Set(
        [st.tokenId, ...(st.supersededTokens ?? []).map((t) => t.id)].filter((x): x is string => !!x),
      ),
    ];
    if (ids.length === 0) return [];
    const capsule = await this.d.kube.get<CapsuleObject>(
      capsulePath(grant.metadata.namespace, grant.spec.capsuleRef.name),
    );
    const publishing = await this.d.capsules.publishing(capsule);
    const dest = publishing.dest;
    const { signingKey } = await publishing.signing();
    const { list } = await destinationCall("publish the revocation list", () =>
      ensureRevocations(dest.loc, signingKey, { ids, reason: reason.slice(0, 200) || "revoked" }),
    );
    this.d.metrics.revocations.inc(ids.length);
    log.info("grant revoked", { tokenIds: ids, sequence: list.sequence });
    await this.kind.event(
      grant,
      "Normal",
      "Revoked",
      `token ${ids.join(", ")} added to revocations.json (sequence ${list.sequence})`,
    );
    return [...new Set([...(st.revokedTokenIds ?? []), ...ids])];
  }

  private async finalize(grant: GrantObject, log: Logger) {
    const { namespace } = grant.metadata;
    if (!this.kind.hasFinalizer(grant)) return;
    try {
      await this.revoke(grant, grant.spec.revocationReason ?? "grant deleted", log);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // The Capsule is gone, and with it where its revocation list lives.
      log.warn("capsule gone: nothing to revoke against", { error: errorMessage(err) });
      await this.kind.event(grant, "Warning", "RevocationSkipped", "the Capsule no longer exists");
    }
    const secret = await this.readSecret(namespace, grant.spec.secretName);
    if (secret && this.isOurs(secret, grant)) {
      if ((grant.spec.secretDeletionPolicy ?? "Delete") === "Delete") {
        await this.d.kube.delete(paths.secret(namespace, grant.spec.secretName)).catch((err) => {
          if (!isNotFound(err)) throw err;
        });
      } else {
        // Retain: no owner reference left, so garbage collection keeps it.
        await this.d.kube.mergePatch(paths.secret(namespace, grant.spec.secretName), {
          metadata: { ownerReferences: null, resourceVersion: secret.metadata.resourceVersion },
        });
      }
    }
    await this.kind.removeFinalizer(grant);
    log.info("finalized", { secretDeletionPolicy: grant.spec.secretDeletionPolicy ?? "Delete" });
  }
}
