/**
 * Who may do what in a clean room, derived from the policy alone with the same
 * functions that compile the infrastructure (names, principal sets, expiry, CEL).
 * The access report renders this model; nothing here reads Terraform.
 *
 * The roles below are the data plane's contract (CleanRoomDataPlane). They cannot be
 * derived from lib/policy, so they live here in one place, and the report's
 * cross-check compares them with the grants a synthesized stack really declares.
 */
import {
  ConditionClause,
  JOB_APPROVAL_ATTRIBUTE_MAPPING,
  JOB_APPROVED_GROUP,
  attributeConditionClauses,
  compileAttributeCondition,
  compileJobApprovalCondition,
  jobApprovalConditionClauses,
} from "../policy/condition";
import { compileVerifierPolicy, provisionedReleaseCondition, verifierProvisioningDestinations } from "../policy/document";
import { partitionReaders } from "../policy/iam-limits";
import { DatasetMember, approvalEnd, datasetMembers } from "../policy/members";
import { Approval, CleanRoomPolicy, DatasetPolicy } from "../policy/model";
import { DatasetBucketPurpose, dataPlaneNames, dockerRepositoryPath, manateeContract, platformNames } from "../policy/names";
import { InvalidInputError } from "../errors";
import { PROJECT_NUMBER_PLACEHOLDER } from "../analysis/reference-values";

/** The predefined roles the data plane grants. */
export const DATA_PLANE_ROLES = {
  read: "roles/storage.objectViewer",
  write: "roles/storage.objectCreator",
  decrypt: "roles/cloudkms.cryptoKeyDecrypter",
  encryptOnly: "roles/cloudkms.cryptoKeyEncrypter",
  impersonate: "roles/iam.workloadIdentityUser",
  /** The approver key's owners: sign job image digests (approve) and read the public key. */
  sign: "roles/cloudkms.signerVerifier",
  viewPublicKey: "roles/cloudkms.publicKeyViewer",
} as const;

/** Cloud KMS algorithm of approver keys (lib/constructs/data-plane/keys.ts APPROVER_KEY_ALGORITHM; kms.ts is cdktf code). */
export const APPROVER_KEY_ALGORITHM = "EC_SIGN_P256_SHA256";

/**
 * The data plane's project custom roles (CleanRoomDataPlane, SDK_PERMISSIONS) as IAM names: what
 * ManaTEE's SDK calls besides reading objects.
 */
export function sdkRoles(policy: { name: string; project: string }) {
  const names = dataPlaneNames(policy);
  const role = (id: string) => `projects/${policy.project}/roles/${id}`;
  return {
    /** storage.buckets.get + objects get/list: stage-1 read as the SDK does it (JupyterLab). */
    stage1Reader: role(names.stage1ReaderRoleId),
    /** storage.buckets.get only: readers call it on the stage-2 bucket before reading. */
    bucketMetadata: role(names.bucketMetadataRoleId),
  };
}

export { PROJECT_NUMBER_PLACEHOLDER };

/** The dataset keys' rotation period unless the stack overrides it (AttestationBoundKey default). */
export const DEFAULT_DATASET_KEY_ROTATION_DAYS = 90;

export const BUCKET_PURPOSES: readonly DatasetBucketPurpose[] = ["stage1", "stage2"];

export type ResourceKind = "bucket" | "key" | "keyRing" | "serviceAccount" | "project";

/** A resource a grant is made on: bucket name, `keyRing/key`, key ring, service account e-mail, project id. */
export interface ResourceRef {
  readonly kind: ResourceKind;
  readonly name: string;
}

/** Who a member is in the clean room. */
export type PrincipalRole = "researcher" | "jupyterlab" | "data-owner" | "approved-image" | "dataset-reader" | "job-approved" | "verifier";

/** One grant the data plane declares for the policy. */
export interface ExpectedGrant {
  readonly resource: ResourceRef;
  readonly role: string;
  readonly member: string;
  readonly principal: PrincipalRole;
  /** The IAM condition expression when the grant expires with its approval. */
  readonly condition?: string;
}

/** One approved image as a stage-2 principal of one dataset. */
export interface Stage2Principal {
  /** The principal set of the digest (`PROJECT_NUMBER` unless a number was given). */
  readonly member: string;
  readonly imageDigest: string;
  /** The approvals behind it (a digest may be approved more than once). */
  readonly approvals: readonly Approval[];
  /** Last valid day; absent when some approval never expires. */
  readonly until?: string;
  /** First instant the grant no longer holds (RFC 3339). */
  readonly notAfter?: string;
  /** Evaluated only when a `now` is given. */
  readonly expired?: boolean;
  /** Impersonation mode: the reader service account this image impersonates. */
  readonly readerServiceAccount?: string;
}

export interface BucketView {
  readonly purpose: DatasetBucketPurpose;
  readonly name: string;
  readonly location: string;
}

export interface DatasetKeyView {
  readonly keyRing: string;
  readonly name: string;
  readonly location: string;
  readonly rotationDays: number;
}

/**
 * A dataset's per-job approval path (docs/job-path.md). The approver key and signature repository
 * always exist (the first deploy creates them); the job pool and its grants exist only once the
 * key's fingerprint is in the room file.
 */
export interface JobApprovalView {
  /** True when `datasets.<d>.approverKey.fingerprint` is in the room file. */
  readonly enabled: boolean;
  readonly fingerprint?: string;
  readonly approverKey: { readonly keyRing: string; readonly name: string; readonly location: string; readonly algorithm: string };
  /** Who may sign with the key and push to the repository: the dataset's owners, nobody else. */
  readonly signers: readonly string[];
  readonly signatureRepository: { readonly id: string; readonly location: string; readonly path: string };
  /** The job pool, only when enabled: without a fingerprint the room declares none. */
  readonly pool?: JobPoolView;
}

export interface JobPoolView {
  readonly poolId: string;
  readonly providerId: string;
  /** `principalSet://…/workloadIdentityPools/<job pool>/group/job-approved`: what the grants name. */
  readonly groupPrincipalSet: string;
  readonly attributeMapping: Readonly<Record<string, string>>;
  readonly attributeCondition: string;
  readonly clauses: readonly ConditionClause[];
}

export interface DatasetAccess {
  readonly dataset: DatasetPolicy;
  readonly buckets: Readonly<Record<DatasetBucketPurpose, BucketView>>;
  readonly key: DatasetKeyView;
  /** Impersonation mode: the (first) reader service account that holds the stage-2 grants. */
  readonly readerServiceAccount?: string;
  /**
   * Impersonation mode: every reader service account, in order. More than one when the dataset
   * approves more images than one allow policy takes (lib/policy/iam-limits.ts).
   */
  readonly readerServiceAccounts?: readonly string[];
  readonly stage2Principals: readonly Stage2Principal[];
  readonly jobApproval: JobApprovalView;
  /** Every grant the data plane declares on this dataset's buckets, keys and reader. */
  readonly grants: readonly ExpectedGrant[];
}

export interface ApprovalView {
  readonly approval: Approval;
  /** First instant the approval no longer holds (RFC 3339). */
  readonly notAfter?: string;
  /** Evaluated only when a `now` is given; never true for an approval without expiry. */
  readonly expired?: boolean;
}

export interface AccessModelOptions {
  /** Marks approvals and grants that have expired at this instant. @default - not evaluated */
  readonly now?: Date | string;
  /** The project number, to print principal sets exactly. @default "PROJECT_NUMBER" */
  readonly projectNumber?: string;
}

export interface AccessModel {
  readonly policy: CleanRoomPolicy;
  readonly now?: Date;
  readonly verifierPolicySha256: string;
  readonly attributeCondition: string;
  readonly clauses: readonly ConditionClause[];
  readonly identities: {
    readonly poolId: string;
    readonly providerId: string;
    readonly teeServiceAccount: string;
    readonly jupyterServiceAccount: string;
    readonly verifierServiceAccount: string;
  };
  readonly datasets: readonly DatasetAccess[];
  readonly approvals: readonly ApprovalView[];
}

/**
 * `sha256:1580f84f…`: a digest shortened for a diagram, never used to match. Pass the
 * other digests on display to lengthen the prefix until it tells them all apart.
 */
export function shortDigest(digest: string, others: readonly string[] = []): string {
  const [algorithm, hex] = digest.includes(":") ? digest.split(":", 2) : ["", digest];
  let length = 8;
  while (length < hex.length && others.some((o) => o !== digest && o.startsWith(`${algorithm}:${hex.slice(0, length)}`))) {
    length += 4;
  }
  const head = hex.length > length ? `${hex.slice(0, length)}…` : hex;
  return algorithm ? `${algorithm}:${head}` : head;
}

/**
 * `shortDigest` of each digest among all of them, in O(n log n): after sorting, the digest that
 * shares the longest prefix with another is one of its two neighbours.
 */
export function shortDigests(digests: readonly string[]): Map<string, string> {
  const sorted = [...new Set(digests)].sort();
  const out = new Map<string, string>();
  sorted.forEach((digest, i) => {
    const others = digest.includes(":") ? [sorted[i - 1], sorted[i + 1]].filter((d): d is string => d !== undefined) : sorted;
    out.set(digest, shortDigest(digest, others));
  });
  return out;
}

function parseNow(now: Date | string | undefined): Date | undefined {
  if (now === undefined) return undefined;
  const date = now instanceof Date ? now : new Date(now);
  if (Number.isNaN(date.getTime())) {
    throw new InvalidInputError(`now: "${String(now)}" is not a date; pass an ISO 8601 date such as 2026-01-31T00:00:00Z.`);
  }
  return date;
}

function isExpired(notAfter: string | undefined, now: Date | undefined): boolean | undefined {
  if (now === undefined) return undefined;
  return notAfter !== undefined && now.getTime() >= Date.parse(notAfter);
}

function serviceAccountEmail(id: string, project: string): string {
  return `${id}@${project}.iam.gserviceaccount.com`;
}

function datasetAccess(
  policy: CleanRoomPolicy,
  dataset: DatasetPolicy,
  projectNumber: string,
  now: Date | undefined,
): DatasetAccess {
  const names = dataPlaneNames(policy);
  const bucket = (purpose: DatasetBucketPurpose): BucketView => ({
    purpose,
    name: names.datasetBucket(dataset.name, purpose),
    location: policy.region,
  });
  const buckets = { stage1: bucket("stage1"), stage2: bucket("stage2") };
  const key: DatasetKeyView = {
    keyRing: names.datasetKeyRing,
    name: names.datasetKey(dataset.name),
    location: policy.region,
    rotationDays: DEFAULT_DATASET_KEY_ROTATION_DAYS,
  };
  const keyRef: ResourceRef = { kind: "key", name: `${key.keyRing}/${key.name}` };
  const bucketRef = (purpose: DatasetBucketPurpose): ResourceRef => ({ kind: "bucket", name: buckets[purpose].name });

  const members: DatasetMember[] = datasetMembers(policy, dataset.name, { projectNumber, poolId: names.poolId });
  // Impersonation: the same runs of images per reader as CleanRoomDataPlane makes.
  const shards = dataset.access === "impersonation" ? partitionReaders(members) : [];
  const readerServiceAccounts = shards.map((_, i) =>
    serviceAccountEmail(names.readerServiceAccountId(dataset.name, i + 1), policy.project),
  );
  const readerOf = new Map<string, string>();
  shards.forEach((shard, i) => shard.forEach((m) => readerOf.set(m.member, readerServiceAccounts[i])));
  const stage2Principals: Stage2Principal[] = members.map((m) => {
    const until = m.condition ? latestExpiry(m.approvals) : undefined;
    const notAfter = until ? approvalEnd(until) : undefined;
    const reader = readerOf.get(m.member);
    return {
      member: m.member,
      imageDigest: m.imageDigest,
      approvals: m.approvals,
      ...(until ? { until, notAfter } : {}),
      ...(now ? { expired: isExpired(notAfter, now) } : {}),
      ...(reader ? { readerServiceAccount: reader } : {}),
    };
  });

  const readerServiceAccount = readerServiceAccounts[0];

  const grants: ExpectedGrant[] = [];
  const grant = (resource: ResourceRef, role: string, member: string, principal: PrincipalRole, condition?: string) =>
    grants.push({ resource, role, member, principal, ...(condition ? { condition } : {}) });

  for (const researcher of policy.researchers) grant(bucketRef("stage1"), DATA_PLANE_ROLES.read, researcher, "researcher");
  // CleanRoom grants JupyterLab what ManaTEE's SDK calls (grantSdkStage1Access), not objectViewer.
  grant(bucketRef("stage1"), sdkRoles(policy).stage1Reader, `serviceAccount:${platformNames(policy).jupyterSaEmail}`, "jupyterlab");
  for (const owner of dataset.owners) {
    grant(bucketRef("stage1"), DATA_PLANE_ROLES.write, owner, "data-owner");
    grant(bucketRef("stage2"), DATA_PLANE_ROLES.write, owner, "data-owner");
    grant(keyRef, DATA_PLANE_ROLES.encryptOnly, owner, "data-owner");
  }
  // A provisioned dataset's stage-1 data arrives through the verifier's release (create-only, provisioned/).
  const destination = verifierProvisioningDestinations(policy).find((d) => d.dataset === dataset.name);
  if (destination && policy.jobs !== undefined) {
    const verifier = `serviceAccount:${platformNames(policy).verifierSaEmail}`;
    grant(bucketRef("stage1"), DATA_PLANE_ROLES.write, verifier, "verifier", provisionedReleaseCondition(destination.stage1Bucket).expression);
  }
  const stage2Grants = (member: string, principal: PrincipalRole, condition?: string) => {
    grant(bucketRef("stage2"), DATA_PLANE_ROLES.read, member, principal, condition);
    grant(keyRef, DATA_PLANE_ROLES.decrypt, member, principal, condition);
  };
  if (readerServiceAccount) {
    for (const reader of readerServiceAccounts) {
      stage2Grants(`serviceAccount:${reader}`, "dataset-reader");
      grant(bucketRef("stage2"), sdkRoles(policy).bucketMetadata, `serviceAccount:${reader}`, "dataset-reader");
    }
    for (const m of members) {
      grant(
        { kind: "serviceAccount", name: readerOf.get(m.member)! },
        DATA_PLANE_ROLES.impersonate,
        m.member,
        "approved-image",
        m.condition?.expression,
      );
    }
  } else {
    for (const m of members) stage2Grants(m.member, "approved-image", m.condition?.expression);
  }

  const jobApproval = jobApprovalView(policy, dataset, projectNumber);
  const approverKeyRef: ResourceRef = { kind: "key", name: `${jobApproval.approverKey.keyRing}/${jobApproval.approverKey.name}` };
  for (const owner of dataset.owners) {
    grant(approverKeyRef, DATA_PLANE_ROLES.sign, owner, "data-owner");
    grant(approverKeyRef, DATA_PLANE_ROLES.viewPublicKey, owner, "data-owner");
  }
  if (jobApproval.pool) {
    // An approved job reads and decrypts like an approved image; its results go to quarantine and the
    // verifier releases them (docs/job-path.md).
    const group = jobApproval.pool.groupPrincipalSet;
    if (readerServiceAccount) {
      // CleanRoomDataPlane lets the group impersonate the first reader: every reader holds the same grants.
      grant({ kind: "serviceAccount", name: readerServiceAccount }, DATA_PLANE_ROLES.impersonate, group, "job-approved");
    } else {
      grant(keyRef, DATA_PLANE_ROLES.decrypt, group, "job-approved");
      grant(bucketRef("stage2"), DATA_PLANE_ROLES.read, group, "job-approved");
    }
  }

  return {
    dataset,
    buckets,
    key,
    jobApproval,
    ...(readerServiceAccount ? { readerServiceAccount, readerServiceAccounts } : {}),
    stage2Principals,
    grants,
  };
}

function jobApprovalView(policy: CleanRoomPolicy, dataset: DatasetPolicy, projectNumber: string): JobApprovalView {
  const names = dataPlaneNames(policy);
  const fingerprint = dataset.approverKey?.fingerprint;
  // Names are validated with the policy; the report still renders (hostile-input tests) when one is not.
  let repositoryId: string;
  try {
    repositoryId = names.signatureRepositoryId(dataset.name);
  } catch (err) {
    repositoryId = `(invalid: ${(err as Error).message})`;
  }
  const view: JobApprovalView = {
    enabled: fingerprint !== undefined,
    approverKey: {
      keyRing: names.datasetKeyRing,
      name: names.approverKey(dataset.name),
      location: policy.region,
      algorithm: APPROVER_KEY_ALGORITHM,
    },
    signers: dataset.owners,
    signatureRepository: { id: repositoryId, location: policy.region, path: dockerRepositoryPath(policy.region, policy.project, repositoryId) },
  };
  if (fingerprint === undefined) return view;
  const poolId = names.jobPoolId(dataset.name);
  return {
    ...view,
    fingerprint,
    pool: {
      poolId,
      providerId: names.jobProviderId,
      groupPrincipalSet:
        `principalSet://iam.googleapis.com/projects/${projectNumber}/locations/global/workloadIdentityPools/${poolId}/group/${JOB_APPROVED_GROUP}`,
      attributeMapping: JOB_APPROVAL_ATTRIBUTE_MAPPING,
      attributeCondition: compileJobApprovalCondition(policy, dataset.name),
      clauses: jobApprovalConditionClauses(policy, dataset.name),
    },
  };
}

function latestExpiry(approvals: readonly Approval[]): string | undefined {
  return approvals
    .map((a) => a.expires)
    .filter((e): e is string => e !== undefined)
    .sort()
    .pop();
}

/** The access model of a policy: pure, deterministic for a given `now`. */
export function buildAccessModel(policy: CleanRoomPolicy, options: AccessModelOptions = {}): AccessModel {
  const now = parseNow(options.now);
  const projectNumber = options.projectNumber ?? PROJECT_NUMBER_PLACEHOLDER;
  const names = dataPlaneNames(policy);
  const platform = platformNames(policy);
  return {
    policy,
    ...(now ? { now } : {}),
    verifierPolicySha256: compileVerifierPolicy(policy).sha256,
    attributeCondition: compileAttributeCondition(policy),
    clauses: attributeConditionClauses(policy),
    identities: {
      poolId: names.poolId,
      providerId: names.providerId,
      teeServiceAccount: manateeContract(policy.name, policy.project).teeServiceAccountEmail,
      jupyterServiceAccount: platform.jupyterSaEmail,
      verifierServiceAccount: platform.verifierSaEmail,
    },
    datasets: policy.datasets.map((d) => datasetAccess(policy, d, projectNumber, now)),
    approvals: policy.approvals.map((approval) => {
      const notAfter = approval.expires !== undefined ? approvalEnd(approval.expires) : undefined;
      return {
        approval,
        ...(notAfter ? { notAfter } : {}),
        ...(now ? { expired: isExpired(notAfter, now) } : {}),
      };
    }),
  };
}
