/**
 * The verifier policy document: what the attestation verifier enforces. It carries the
 * same CEL string as the workload identity provider. Its type is the one thing the
 * attestation-verifier package shares with lib/policy.
 */
import { createHash } from "node:crypto";
import { APPROVER_SIGNATURE_ALGORITHM, compileAttributeCondition, compileJobApprovalCondition } from "./condition";
import { approvalsOfParty, datasetsOfParty, isConsortium, partiesOf } from "./consortium";
import { Approval, CONFIDENTIAL_SPACE_ISSUER, CleanRoomPolicy, PartyApprovalsJwk } from "./model";
import { requireParty } from "./party-names";
import { approvalEnd, IamCondition, objectPrefixCondition } from "./members";
import { dataPlaneNames, jobInstancePrefix, manateeContract, outputReleaseNames } from "./names";
import { verifierRequiresNonce } from "./verifier-options";

export const VERIFIER_POLICY_VERSION = 1;

export interface VerifierApproval {
  readonly imageDigest: string;
  readonly datasets: readonly string[];
  readonly purpose: string;
  readonly approvedBy: string;
  /** Last valid day (ISO date), as written in the policy. */
  readonly expires?: string;
  /** First instant the approval no longer holds (RFC 3339, UTC). */
  readonly notAfter?: string;
  /** What each output release this approval grants spends of each dataset's budget (`budgets`). */
  readonly spend?: VerifierBudget;
  /** The approval's GPU mode (docs/gpu.md); absent = `none` (CPU only), so CPU rooms keep their hash. */
  readonly gpu?: "required" | "allowed" | "none";
  /** The consortium party that gave it (it names only that party's datasets); absent in a single-project room. */
  readonly party?: string;
}

/** A privacy budget or spend: epsilon, and delta where the mechanism uses one. */
export interface VerifierBudget {
  readonly epsilon: number;
  readonly delta?: number;
}

/** A consortium party as the verifier sees it (docs/consortium-contract.md). */
export interface VerifierParty {
  readonly name: string;
  readonly project: string;
  /** The party's datasets, in policy order. */
  readonly datasets: readonly string[];
  /** The pinned ES256 public key: the verifier counts only approvals this key signed. */
  readonly approvalsKey?: PartyApprovalsJwk;
  /** Compact JWS over `partyApprovalsPayload(policy, name)`; present with `approvalsKey`. */
  readonly approvalsJws?: string;
}

export interface VerifierPolicyDocument {
  readonly version: typeof VERIFIER_POLICY_VERSION;
  readonly cleanRoom: string;
  readonly project: string;
  readonly issuer: string;
  /** The `aud` a release token must carry. */
  readonly audience: string;
  /** The workload identity provider's attribute condition, verbatim. */
  readonly attributeCondition: string;
  readonly teeServiceAccount: string;
  readonly allowDebug: boolean;
  /**
   * A `/v1/verify` request must name a nonce among the token's `eat_nonce`. Always written by
   * `compileVerifierPolicy`, so a verifier that does not know the field refuses the document
   * instead of silently skipping the rule.
   * @default true (a document without the field, from before it existed)
   */
  readonly requireNonce?: boolean;
  readonly datasets: readonly string[];
  readonly approvals: readonly VerifierApproval[];
  /**
   * Per-job approvals (docs/job-path.md): a token is approved for `dataset` when its
   * `submods.container.image_signatures` holds a signature by the dataset's approver key
   * (`signatureAlgorithm` + `keyId`) and `attributeCondition` (the dataset's job-approval
   * provider condition, verbatim) holds. Absent when no dataset has an approver key.
   */
  readonly jobApprovals?: readonly VerifierJobApproval[];
  /** Output release (quarantine → release bucket); absent when the room has no job path. */
  readonly release?: VerifierReleaseSettings;
  /** Per dataset, the total privacy budget the verifier's ledger enforces (attestation-verifier/src/budget.ts). */
  readonly budgets?: Readonly<Record<string, VerifierBudget>>;
  /** The consortium's parties, in declaration order; absent for a single-project room (its hash is unchanged). */
  readonly parties?: readonly VerifierParty[];
}

export interface VerifierJobApproval {
  readonly dataset: string;
  /** Lowercase hex SHA-256 of the approver key's DER public key. */
  readonly keyId: string;
  readonly signatureAlgorithm: "ECDSA_P256_SHA256";
  readonly attributeCondition: string;
}

export interface VerifierReleaseSettings {
  readonly quarantineBucket: string;
  readonly releaseBucket: string;
  /** TEE VMs are named `<instancePrefix>-<job uuid>`: a token may release only into its own job's prefix. */
  readonly instancePrefix: string;
  /**
   * Per dataset with `provisioning` (the room's own datasets, in policy order): a release by its
   * provisioning image lands in its stage-1 bucket (`provisioned/<job>/`), never in `releaseBucket`.
   * Absent when no dataset is provisioned, so such rooms keep their hash.
   */
  readonly provisioning?: readonly VerifierProvisioningDestination[];
}

/** Provisioned objects are `<stage1Bucket>/provisioned/<job>/<name>` (attestation-verifier/src/destination.ts, pinned equal by a test). */
export const PROVISIONED_OBJECT_PREFIX = "provisioned/";

/**
 * The IAM condition of the verifier's create-only grant on a provisioned stage-1 bucket: objects
 * under `provisioned/` only. The data plane grants it and the access report expects it.
 */
export function provisionedReleaseCondition(stage1Bucket: string): IamCondition {
  return objectPrefixCondition(stage1Bucket, PROVISIONED_OBJECT_PREFIX, "provisioned-outputs", "The verifier releases the provisioning image's output under provisioned/ only");
}

/** Where the output of a dataset's provisioning image is released: that dataset's stage-1 bucket. */
export interface VerifierProvisioningDestination {
  readonly dataset: string;
  /** `datasets.<dataset>.provisioning.imageDigest`. */
  readonly imageDigest: string;
  /** `dataPlaneNames(policy).datasetBucket(dataset, "stage1")`. */
  readonly stage1Bucket: string;
}

export interface CompiledVerifierPolicy {
  readonly document: VerifierPolicyDocument;
  /** Canonical JSON (sorted keys, no whitespace): what is hashed and delivered. */
  readonly json: string;
  /** Hex SHA-256 of `json`. */
  readonly sha256: string;
}

/** JSON with object keys sorted at every level: stable bytes for hashing. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** One entry per dataset whose approver key fingerprint is in the room file, in policy order. */
export function verifierJobApprovals(policy: CleanRoomPolicy): VerifierJobApproval[] {
  return policy.datasets
    .filter((d) => d.approverKey !== undefined)
    .map((d) => ({
      dataset: d.name,
      keyId: d.approverKey!.fingerprint,
      signatureAlgorithm: APPROVER_SIGNATURE_ALGORITHM,
      attributeCondition: compileJobApprovalCondition(policy, d.name),
    }));
}

/**
 * The output release settings of a room with the job path (`policy.jobs`, which
 * `normalizePolicy` always sets): the buckets `OutputRelease` creates and the job VMs' prefix.
 * Undefined for a hand-built policy without `jobs`.
 */
export function verifierReleaseSettings(
  policy: Pick<CleanRoomPolicy, "name" | "project" | "jobs" | "datasets">,
): VerifierReleaseSettings | undefined {
  if (policy.jobs === undefined) return undefined;
  const names = outputReleaseNames(policy);
  const provisioning = verifierProvisioningDestinations(policy);
  return {
    quarantineBucket: names.quarantineBucket,
    releaseBucket: names.releaseBucket,
    instancePrefix: jobInstancePrefix(policy),
    ...(provisioning.length > 0 ? { provisioning } : {}),
  };
}

/**
 * The stage-1 destination of each of the room's own provisioned datasets. Consortium parties'
 * datasets are left out, as their triggers are (their stage-1 buckets live in the party's project).
 */
export function verifierProvisioningDestinations(policy: Pick<CleanRoomPolicy, "name" | "project" | "datasets">): VerifierProvisioningDestination[] {
  const names = dataPlaneNames(policy);
  return policy.datasets
    .filter((d) => d.provisioning !== undefined && d.party === undefined)
    .map((d) => ({ dataset: d.name, imageDigest: d.provisioning!.imageDigest, stage1Bucket: names.datasetBucket(d.name, "stage1") }));
}

/** An approval as the document (and a party's signed payload) carries it. */
function verifierApproval(a: Approval): VerifierApproval {
  return {
    imageDigest: a.imageDigest,
    datasets: [...a.datasets],
    purpose: a.purpose,
    approvedBy: a.approvedBy,
    ...(a.expires !== undefined ? { expires: a.expires, notAfter: approvalEnd(a.expires) } : {}),
    ...(a.spend !== undefined ? { spend: { ...a.spend } } : {}),
    ...(a.gpu !== undefined ? { gpu: a.gpu } : {}),
    ...(a.party !== undefined ? { party: a.party } : {}),
  };
}

function verifierParties(policy: CleanRoomPolicy): VerifierParty[] {
  return partiesOf(policy).map((p) => ({
    name: p.name,
    project: p.project,
    datasets: datasetsOfParty(policy, p.name).map((d) => d.name),
    ...(p.approvalsKey !== undefined ? { approvalsKey: { ...p.approvalsKey.jwk } } : {}),
    ...(p.approvalsSignature !== undefined ? { approvalsJws: p.approvalsSignature } : {}),
  }));
}

/** The `typ` header of a party's approvals JWS. */
export const PARTY_APPROVALS_JWS_TYPE = "manatee-approvals+jws";
export const PARTY_APPROVALS_JWS_ALGORITHM = "ES256";

/**
 * The bytes a party signs (`manatee policy sign`) and the verifier checks: the canonical JSON of
 * `{ room, party, approvals }`, the party's approvals exactly as the document carries them.
 */
export function partyApprovalsPayload(policy: CleanRoomPolicy, party: string): string {
  const p = requireParty(policy, party);
  return canonicalJson({ room: policy.name, party: p.name, approvals: approvalsOfParty(policy, p.name).map(verifierApproval) });
}

export function compileVerifierPolicy(policy: CleanRoomPolicy): CompiledVerifierPolicy {
  const jobApprovals = verifierJobApprovals(policy);
  const release = verifierReleaseSettings(policy);
  const budgets = policy.datasets.filter((d) => d.budget !== undefined).map((d) => [d.name, { ...d.budget! }] as const);
  const document: VerifierPolicyDocument = {
    version: VERIFIER_POLICY_VERSION,
    cleanRoom: policy.name,
    project: policy.project,
    issuer: CONFIDENTIAL_SPACE_ISSUER,
    audience: policy.verifier.audience,
    attributeCondition: compileAttributeCondition(policy),
    teeServiceAccount: manateeContract(policy.name, policy.project).teeServiceAccountEmail,
    allowDebug: policy.tee.allowDebug,
    requireNonce: verifierRequiresNonce(policy.verifier),
    datasets: policy.datasets.map((d) => d.name),
    approvals: policy.approvals.map(verifierApproval),
    // Absent, not empty, without approver keys: rooms without the job path keep their hash.
    ...(jobApprovals.length > 0 ? { jobApprovals } : {}),
    ...(release ? { release } : {}),
    ...(isConsortium(policy) ? { parties: verifierParties(policy) } : {}),
    // Absent without budgets: rooms without a ledger keep their hash.
    ...(budgets.length > 0 ? { budgets: Object.fromEntries(budgets) } : {}),
  };
  const json = canonicalJson(document);
  return { document, json, sha256: createHash("sha256").update(json).digest("hex") };
}
