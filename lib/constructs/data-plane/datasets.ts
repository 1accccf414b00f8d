/**
 * The attestation-bound data plane of one clean room, composed from its policy: the
 * Confidential Space pool and TEE workload, the dataset and storage key rings, and per dataset
 * its stage-1 and stage-2 buckets, its key and every grant the policy implies.
 */
import { TerraformProvider } from "cdktf";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { Construct } from "constructs";
import { ConfidentialSpaceWorkload, ConfidentialSpaceWorkloadProps } from "./confidential-space";
import { grantOnProject } from "../iam-grants";
import { CleanRoomPolicy } from "../../policy/model";
import { approvalsOfParty, datasetsOfParty, isConsortium } from "../../policy/consortium";
import { DataPlaneKeyOptions, DatasetHoldings } from "./dataset-holdings";
import { SignatureRepository } from "./signature-repository";
import { ConfidentialSpacePool, ConfidentialSpacePoolProps } from "./workload-identity-pool";

export { DatasetHoldings, SDK_PERMISSIONS } from "./dataset-holdings";
export type { DataPlaneKeyOptions, DatasetDataPlane, DatasetHoldingsProps, DatasetReader } from "./dataset-holdings";
export { SignatureRepository } from "./signature-repository";
export type { SignatureRepositoryProps } from "./signature-repository";

export interface CleanRoomDataPlaneProps {
  /** The clean-room policy (normalized; see normalizePolicy / the YAML loader). */
  readonly policy: CleanRoomPolicy;
  /** Pool settings beyond the policy. @default {} */
  readonly pool?: Omit<ConfidentialSpacePoolProps, "policy" | "provider">;
  /** TEE workload settings beyond the policy. @default {} */
  readonly workload?: Omit<ConfidentialSpaceWorkloadProps, "policy" | "provider">;
  /** Key settings for every key of the data plane. @default DataPlaneKeyOptions defaults (HSM, 90-day rotation, prevent-destroy) */
  readonly keys?: DataPlaneKeyOptions;
  /**
   * Customer-managed key of the signature repositories, in the room's region (the Artifact
   * Registry service agent needs encrypt/decrypt on it), like the other repositories.
   * @default - Google-managed encryption (as the room's image repositories by default)
   */
  readonly signatureRepositoryKmsKeyName?: string;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

/**
 * Stage-2 data is reachable only by attested, approved workloads, on two layers: object read on
 * the dataset's stage-2 bucket and decrypt on the dataset's key, both granted only to the
 * principal sets of images approved for that dataset (or, in `impersonation` mode, to a
 * per-dataset reader service account that only those principal sets may impersonate), each
 * ending when its approval expires.
 *
 * How a data owner envelope-encrypts a stage-2 file (the owner holds encrypt-only on the key):
 * 1. generate a random 256-bit data key (DEK) locally, e.g. `openssl rand 32 > dek`;
 * 2. encrypt the file with the DEK (AES-256-GCM; e.g. Tink's streaming AEAD);
 * 3. wrap the DEK with the dataset key: `gcloud kms encrypt --key=<datasets[name].key.cryptoKeyId>
 *    --plaintext-file=dek --ciphertext-file=dek.wrapped`, then shred the plaintext DEK;
 * 4. upload the encrypted file and `dek.wrapped` to the dataset's stage-2 bucket.
 * Inside the TEE, the workload exchanges its attestation token at STS, calls Cloud KMS decrypt
 * on `dek.wrapped` and decrypts the file in memory.
 *
 * Scale: every approved image is one principal on each of its dataset's allow policies, and
 * Google caps a policy at 1,500 principals (lib/policy/iam-limits.ts). The constructor checks
 * each dataset's policies and throws IamPolicyLimitError (naming dataset, count, limit and fix)
 * before Google would refuse them at apply. In `impersonation` mode the room splits instead: a
 * dataset with more than IMAGES_PER_READER (1,000) approved images gets readers `…-rd`, `…-rd2`,
 * …, each impersonable by its own run of images (policy order) and all holding the same grants;
 * the access report names each image's reader. A `direct` dataset's bucket and key policies
 * cannot be split. Outside an approved TEE nobody can unwrap
 * the DEK, not even the data owner or a project owner without changing the (reviewed) policy.
 */export class CleanRoomDataPlane extends DatasetHoldings {
  public readonly pool: ConfidentialSpacePool;
  public readonly workload: ConfidentialSpaceWorkload;
  /** The TEE service account's `projectReaderRole` grant: no data, stage 2 calls projects.get with the TEE's own credentials. */
  public readonly teeProjectReaderGrant: ProjectIamMember;

  constructor(scope: Construct, id: string, props: CleanRoomDataPlaneProps) {
    // In a consortium the room's project holds no party's dataset: each party's stack does (PartyDataPlane).
    super(scope, id, { ...props, home: ownDatasets(props.policy) });
    const { policy, provider } = props;
    this.pool = new ConfidentialSpacePool(this, "pool", { ...props.pool, policy, provider });
    this.workload = new ConfidentialSpaceWorkload(this, "tee", { ...props.workload, policy, provider });
    this.teeProjectReaderGrant = grantOnProject(this, "tee-project-reader", {
      project: policy.project,
      role: this.projectReaderRole.name,
      member: this.workload.member,
      provider,
    });
    this.addDatasets(props);
  }

  protected grantTeeSignatureRead(repository: SignatureRepository): void {
    this.workload.grantImagePull(repository);
  }
}

/** The policy as the room's own project holds it: without the datasets and approvals of consortium parties. */
function ownDatasets(policy: CleanRoomPolicy): CleanRoomPolicy {
  if (!isConsortium(policy)) return policy;
  return {
    ...policy,
    datasets: datasetsOfParty(policy, undefined),
    approvals: approvalsOfParty(policy, undefined),
  };
}
