/** A dataset: its stage-1 weakening, stage-2 access mode, owners, budget and provisioning. */

/** How stage-1 (programming stage) data is weakened before researchers see it. */
export const STAGE1_KINDS = ["dp-synthetic", "sample", "none"] as const;
/**
 * How stage-1 (programming stage) data is weakened before researchers see it.
 * @useDeclaredType
 */
export type Stage1Kind = (typeof STAGE1_KINDS)[number];

/**
 * How an attested workload reaches a dataset's stage-2 data (both are documented by Google):
 * - `direct`: the principal sets of approved images hold the grants on the bucket and key.
 * - `impersonation`: the principal sets may impersonate a per-dataset reader service
 *   account that holds the grants (the mode ManaTEE's data SDK uses).
 */
export const ACCESS_MODES = ["direct", "impersonation"] as const;
/**
 * How the workload reaches a dataset's stage-2 data: `direct` or `impersonation`.
 * @useDeclaredType
 */
export type AccessMode = (typeof ACCESS_MODES)[number];

export interface Stage1Policy {
  readonly kind: Stage1Kind;
  /** DP mechanism for `dp-synthetic`, e.g. `mst`, `aim`. */
  readonly mechanism?: string;
  /** Privacy budget for `dp-synthetic` (> 0). */
  readonly epsilon?: number;
  /** Optional delta for `dp-synthetic` (0 <= delta < 1). */
  readonly delta?: number;
  /** Sampling fraction for `sample` (0 < fraction <= 1). */
  readonly fraction?: number;
}

export interface DatasetPolicy {
  /** Lowercase letters, digits and '-', up to 30 characters. */
  readonly name: string;
  /** Days after which objects and noncurrent versions are deleted. @default 30 */
  readonly retentionDays: number;
  readonly stage1: Stage1Policy;
  /** @default "direct" */
  readonly access: AccessMode;
  /**
   * Data owners: principals who upload this dataset (object creator on its stage-1 and
   * stage-2 buckets) and wrap data keys with its dataset key (encrypt-only, never decrypt).
   * @default []
   */
  readonly owners: readonly string[];
  /**
   * The dataset's approver key (Cloud KMS, created by the first deploy). Until its fingerprint
   * is here, per-job approval for this dataset is off; standing approvals still work.
   * @default - none: per-job approval off
   */
  readonly approverKey?: ApproverKeyPolicy;
  /**
   * The consortium party whose project holds this dataset (docs/consortium-contract.md).
   * @default - none: the room's own project (a single-project room)
   */
  readonly party?: string;
  /**
   * The dataset's total privacy budget, shared by its stage-1 releases and stage-2 approvals that
   * declare a `spend`; the verifier's ledger refuses a release that would exceed it.
   * @default - none: no ledger for this dataset
   */
  readonly budget?: PrivacyBudget;
  /**
   * Stage-1 data made by an approved TEE job instead of by hand (stage1-provisioning.ts).
   * @default - none: stage-1 data is uploaded by the data owners
   */
  readonly provisioning?: ProvisioningPolicy;
}

/** A privacy budget or spend: epsilon, and delta where the mechanism uses one. */
export interface PrivacyBudget {
  /** > 0 for a budget, >= 0 for a spend. */
  readonly epsilon: number;
  /** 0 <= delta < 1. @default - none (pure epsilon-DP) */
  readonly delta?: number;
}

/** The image that makes a dataset's stage-1 data from its stage-2 data, in a TEE. */
export interface ProvisioningPolicy {
  /** `sha256:` digest of the provisioning image (e.g. examples/dp-synthesizer). */
  readonly imageDigest: string;
  /** Who approved the image for reading this dataset (an email, as approvals' approvedBy). */
  readonly approvedBy: string;
  /**
   * Cloud Scheduler cron expression for runs besides the one a new stage-2 object triggers.
   * @default - none: runs on new stage-2 objects only
   */
  readonly schedule?: string;
}

/** The purpose of the approval compiled from a dataset's `provisioning`. */
export const STAGE1_PROVISIONING_PURPOSE = "stage1-provisioning";

/** A data owner's approver key, as the room file names it. */
export interface ApproverKeyPolicy {
  /**
   * Lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo: the `key_id` Confidential Space
   * puts in `submods.container.image_signatures` (`manatee jobs approver-key --dataset <d>` prints it).
   */
  readonly fingerprint: string;
}

export const DEFAULT_RETENTION_DAYS = 30;

/** A dataset as a TypeScript caller writes it; `normalizePolicy` fills in defaults. */
export interface DatasetInput {
  readonly retentionDays?: number;
  readonly stage1: Stage1Policy;
  readonly access?: AccessMode;
  readonly owners?: readonly string[];
  readonly approverKey?: ApproverKeyPolicy;
  readonly budget?: PrivacyBudget;
  readonly provisioning?: ProvisioningPolicy;
}
