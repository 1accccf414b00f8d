/**
 * The workload identity pool through which attested Confidential Space workloads reach
 * stage-2 data. Its provider accepts Google's attestation tokens only when the compiled
 * attribute condition holds; which image may read which dataset is decided by IAM grants
 * to per-digest principal sets (lib/policy/members.ts), never by the pool itself.
 */
import { TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { DataGoogleProject } from "@cdktf/provider-google/lib/data-google-project";
import { IamWorkloadIdentityPool } from "@cdktf/provider-google/lib/iam-workload-identity-pool";
import { IamWorkloadIdentityPoolProvider } from "@cdktf/provider-google/lib/iam-workload-identity-pool-provider";
import {
  ATTRIBUTE_CONDITION_MAX_LENGTH,
  ATTRIBUTE_MAPPING,
  JOB_APPROVAL_ATTRIBUTE_MAPPING,
  JOB_APPROVED_GROUP,
  compileAttributeCondition,
  compileJobApprovalCondition,
} from "../../policy/condition";
import { PoolRef, principalSetForDigest } from "../../policy/members";
import { CONFIDENTIAL_SPACE_ISSUER, CleanRoomPolicy, STS_AUDIENCE } from "../../policy/model";
import { NAME_RULES, dataPlaneNames } from "../../policy/names";
import { InvalidPropsError } from "../../errors";

/**
 * The provider's `issuer_uri`. Google's Confidential Space guides register the issuer with a
 * trailing slash; the tokens' `iss` claim has none (the verifier checks the bare form).
 */
export const CONFIDENTIAL_SPACE_ISSUER_URI = `${CONFIDENTIAL_SPACE_ISSUER}/`;

const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface ConfidentialSpacePoolProps {
  /** The clean-room policy: project, room name and the attestation requirements. */
  readonly policy: CleanRoomPolicy;
  /**
   * Workload identity pool ID (4-32 characters). Deleted pools block their ID for 30 days,
   * so keep it stable.
   * @default dataPlaneNames(policy).poolId, e.g. "insurance-study-tee"
   */
  readonly poolId?: string;
  /**
   * OIDC provider ID. ManaTEE's data SDK hard-codes `attestation-verifier`; change it only if
   * your workloads build their credential configuration themselves.
   * @default manateeContract().wifProviderId ("attestation-verifier")
   */
  readonly providerId?: string;
  /**
   * Attribute condition (CEL) replacing the compiled one. The compiled condition is the one the
   * verifier policy document carries too; an override makes STS and the verifier diverge.
   * @default compileAttributeCondition(policy)
   */
  readonly attributeCondition?: string;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

/**
 * A workload identity pool with one OIDC provider for Confidential Space attestation tokens:
 * issuer `https://confidentialcomputing.googleapis.com/`, audience `https://sts.googleapis.com`,
 * the compact `gcpcs::` subject mapping and the attribute condition compiled from the policy.
 */
export class ConfidentialSpacePool extends Construct {
  /** Looks up the project NUMBER that principal sets must name (never asked from the user). */
  public readonly project: DataGoogleProject;
  public readonly pool: IamWorkloadIdentityPool;
  /** The OIDC provider that admits attestation tokens (not the Terraform provider). */
  public readonly oidcProvider: IamWorkloadIdentityPoolProvider;
  public readonly poolId: string;
  public readonly providerId: string;
  /**
   * The pool as principals name it: project number (a token) and pool ID. Grants to its
   * principal sets should depend on `oidcProvider`: IAM rejects principals of a missing pool.
   */
  public readonly poolRef: PoolRef;
  /** The attribute condition the provider enforces. */
  public readonly attributeCondition: string;
  /**
   * The provider's full resource name,
   * `projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`.
   */
  public readonly providerName: string;
  /**
   * The `audience` of the workload's external-account credential configuration:
   * `//iam.googleapis.com/` + providerName.
   */
  public readonly credentialAudience: string;

  constructor(scope: Construct, id: string, props: ConfidentialSpacePoolProps) {
    super(scope, id);
    const { policy } = props;
    const names = dataPlaneNames(policy);
    this.poolId = props.poolId ?? names.poolId;
    this.providerId = props.providerId ?? names.providerId;
    requireName("poolId", this.poolId, NAME_RULES.workloadIdentityPoolId);
    requireName("providerId", this.providerId, NAME_RULES.workloadIdentityProviderId);
    this.attributeCondition = props.attributeCondition ?? compileAttributeCondition(policy);
    if (props.attributeCondition !== undefined) requireCondition(props.attributeCondition);

    this.project = new DataGoogleProject(this, "project", {
      projectId: policy.project,
      provider: props.provider,
    });
    this.pool = new IamWorkloadIdentityPool(this, "pool", {
      project: policy.project,
      workloadIdentityPoolId: this.poolId,
      displayName: fitDisplayName(`${policy.name} TEE`),
      description: `Confidential Space workloads of clean room ${policy.name} (managed by manatee-cdktf)`,
      disabled: false,
      provider: props.provider,
    });
    this.oidcProvider = new IamWorkloadIdentityPoolProvider(this, "provider", {
      project: policy.project,
      workloadIdentityPoolId: this.pool.workloadIdentityPoolId,
      workloadIdentityPoolProviderId: this.providerId,
      displayName: "Confidential Space",
      description: "Accepts Google Confidential Space attestation tokens that satisfy the clean-room policy",
      disabled: false,
      attributeMapping: { ...ATTRIBUTE_MAPPING },
      attributeCondition: this.attributeCondition,
      oidc: {
        issuerUri: CONFIDENTIAL_SPACE_ISSUER_URI,
        // Without an explicit audience STS would expect the provider's resource name instead.
        allowedAudiences: [STS_AUDIENCE],
      },
      provider: props.provider,
    });
    this.poolRef = { projectNumber: this.project.number, poolId: this.poolId };
    this.providerName = this.oidcProvider.name;
    this.credentialAudience = `//iam.googleapis.com/${this.oidcProvider.name}`;
  }

  /** `principalSet://…/attribute.image_digest/<digest>`: every attested VM running that image. */
  public principalSetForDigest(imageDigest: string): string {
    if (!Token.isUnresolved(imageDigest) && !IMAGE_DIGEST.test(imageDigest)) {
      throw new InvalidPropsError(
        `imageDigest "${imageDigest}" is not an image digest. Pass "sha256:" followed by 64 lowercase hex digits.`,
      );
    }
    return principalSetForDigest(this.poolRef, imageDigest);
  }
}

export interface JobApprovalPoolProps {
  /** The clean-room policy; `dataset` must have `approverKey.fingerprint`. */
  readonly policy: CleanRoomPolicy;
  readonly dataset: string;
  /**
   * The project the pool lives in: a consortium party's own, while its condition (from `policy`)
   * pins the room's TEEs in the operator's project.
   * @default policy.project
   */
  readonly project?: string;
  /** The project NUMBER principals name (e.g. `ConfidentialSpacePool.project.number`). */
  readonly projectNumber: string;
  /** @default dataPlaneNames(policy).jobPoolId(dataset), e.g. "insurance-study-insurance-jobs" */
  readonly poolId?: string;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

/**
 * One dataset's per-job approval pool (docs/job-path.md): a provider `attestation-verifier` that
 * admits only production Confidential Space tokens of the room whose image is signed by the
 * dataset's approver key, with no command or environment override and no restart, and maps
 * each to the constant group `job-approved`. Grants name `groupPrincipalSet`, never the pool's
 * `/*`. A pool per dataset, because a signer cannot be mapped into an attribute (pitfall 15):
 * a signature by A's key satisfies only A's provider.
 */
export class JobApprovalPool extends Construct {
  public readonly dataset: string;
  public readonly pool: IamWorkloadIdentityPool;
  public readonly oidcProvider: IamWorkloadIdentityPoolProvider;
  public readonly poolId: string;
  public readonly providerId: string;
  public readonly attributeCondition: string;
  /** `principalSet://…/workloadIdentityPools/<pool>/group/job-approved`: what the dataset's grants name. */
  public readonly groupPrincipalSet: string;
  /** `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/<pool>/providers/attestation-verifier` */
  public readonly credentialAudience: string;

  constructor(scope: Construct, id: string, props: JobApprovalPoolProps) {
    super(scope, id);
    const { policy, dataset } = props;
    const names = dataPlaneNames(policy);
    this.dataset = dataset;
    this.poolId = props.poolId ?? names.jobPoolId(dataset);
    this.providerId = names.jobProviderId;
    requireName("poolId", this.poolId, NAME_RULES.workloadIdentityPoolId);
    this.attributeCondition = compileJobApprovalCondition(policy, dataset);
    const project = props.project ?? policy.project;

    this.pool = new IamWorkloadIdentityPool(this, "pool", {
      project,
      workloadIdentityPoolId: this.poolId,
      displayName: fitDisplayName(`${dataset} jobs`),
      description: `Jobs of clean room ${policy.name} approved by the owners of dataset ${dataset} (managed by manatee-cdktf)`,
      disabled: false,
      provider: props.provider,
    });
    this.oidcProvider = new IamWorkloadIdentityPoolProvider(this, "provider", {
      project,
      workloadIdentityPoolId: this.pool.workloadIdentityPoolId,
      workloadIdentityPoolProviderId: this.providerId,
      displayName: "Approved jobs",
      description: `Admits Confidential Space jobs whose image is signed by the approver key of dataset ${dataset}`,
      disabled: false,
      attributeMapping: { ...JOB_APPROVAL_ATTRIBUTE_MAPPING },
      attributeCondition: this.attributeCondition,
      oidc: { issuerUri: CONFIDENTIAL_SPACE_ISSUER_URI, allowedAudiences: [STS_AUDIENCE] },
      provider: props.provider,
    });
    this.groupPrincipalSet =
      `principalSet://iam.googleapis.com/projects/${props.projectNumber}/locations/global/` +
      `workloadIdentityPools/${this.poolId}/group/${JOB_APPROVED_GROUP}`;
    this.credentialAudience = `//iam.googleapis.com/${this.oidcProvider.name}`;
  }
}

function requireName(field: string, value: string, rule: { min: number; max: number; pattern: RegExp; source: string }) {
  if (Token.isUnresolved(value)) return;
  if (value.length < rule.min || value.length > rule.max || !rule.pattern.test(value)) {
    throw new InvalidPropsError(`${field} "${value}" is invalid: ${rule.source}.`);
  }
}

function requireCondition(condition: string) {
  if (Token.isUnresolved(condition)) return;
  if (condition.trim() === "") {
    throw new InvalidPropsError(
      `attributeCondition is empty: the provider would accept every Confidential Space token, ` +
        `from any project and any image. Omit attributeCondition to use the one compiled from the policy.`,
    );
  }
  if (condition.length > ATTRIBUTE_CONDITION_MAX_LENGTH) {
    throw new InvalidPropsError(
      `attributeCondition is ${condition.length} characters; Google's limit is ${ATTRIBUTE_CONDITION_MAX_LENGTH}. ` +
        `Shorten the expression.`,
    );
  }
}

/** Pool display names are limited to 32 characters. */
function fitDisplayName(name: string): string {
  return name.length <= 32 ? name : name.slice(0, 32);
}
