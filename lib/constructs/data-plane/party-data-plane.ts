/**
 * One consortium party's data plane (docs/consortium-contract.md), in the party's own project:
 * its workload identity pool with one provider `attestation-verifier` that admits only the
 * room's attested TEEs in the operator's project, its dataset keys, stage-1 and stage-2 buckets,
 * reader accounts, approver keys, signature repositories and per-job pools, with authoritative
 * IAM whose principal sets name only this party's pool. Operator facts are plain values
 * derived from the room file: no cross-stack reference, no remote state.
 */
import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { ProjectIamAuditConfig } from "@cdktf/provider-google/lib/project-iam-audit-config";
import { compilePartyAttributeCondition } from "../../policy/condition";
import { approvalsOfParty, datasetsOfParty, partiesOf } from "../../policy/consortium";
import { CleanRoomPolicy, PartyPolicy } from "../../policy/model";
import { OperatorFacts, operatorFacts, partyPoolId } from "../../policy/party-names";
import { InvalidPropsError } from "../../errors";
import { CleanRoomApi, CleanRoomApis } from "../platform/apis";
import { DataPlaneKeyOptions, DatasetHoldings } from "./dataset-holdings";
import { PartyDataPlaneOutputs, datasetOutputsOf, declareTerraformOutputs, outputEntries, partyDataPlaneOutputNames } from "../outputs";
import { SignatureRepository } from "./signature-repository";
import { ConfidentialSpacePool } from "./workload-identity-pool";

/** What a party's project runs: IAM, STS, KMS, Cloud Storage, Artifact Registry (approvals) and audit logs. */
export const PARTY_APIS: readonly CleanRoomApi[] = [
  "serviceusage.googleapis.com",
  "cloudresourcemanager.googleapis.com",
  "iam.googleapis.com",
  "iamcredentials.googleapis.com",
  "sts.googleapis.com",
  "storage.googleapis.com",
  "cloudkms.googleapis.com",
  "artifactregistry.googleapis.com",
  "logging.googleapis.com",
];

/** The room policy as the party's project holds it: its project, its datasets, its approvals. */
export function partyHome(policy: CleanRoomPolicy, party: PartyPolicy): CleanRoomPolicy {
  return {
    ...policy,
    project: party.project,
    datasets: datasetsOfParty(policy, party.name),
    approvals: approvalsOfParty(policy, party.name),
  };
}

export interface PartyDataPlaneProps {
  /** The room's normalized consortium policy (its `project` is the operator's). */
  readonly policy: CleanRoomPolicy;
  /** The party, one of `policy.parties`. */
  readonly party: string;
  /** Key settings for every key of the party. @default DataPlaneKeyOptions defaults (HSM, 90-day rotation, prevent-destroy) */
  readonly keys?: DataPlaneKeyOptions;
  /** @default - Google-managed encryption of the signature repositories */
  readonly signatureRepositoryKmsKeyName?: string;
  /**
   * Enable the APIs the party's project needs (PARTY_APIS).
   * @default true
   */
  readonly enableApis?: boolean;
  /**
   * Declare Terraform outputs (the provider the operator's job service names, buckets, keys).
   * @default true
   */
  readonly outputs?: boolean;
  /** A Google provider for the party's project. @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * A consortium party's datasets and everything guarding them, in the party's project. The
 * operator's stack holds none of it: what the operator could change there (its project, its TEE
 * service account) is pinned in this pool's condition, and the approvals in the principal sets.
 */
export class PartyDataPlane extends DatasetHoldings {
  public readonly party: PartyPolicy;
  public readonly operator: OperatorFacts;
  public readonly pool: ConfidentialSpacePool;
  /** Data Access audit logs of Cloud KMS in the party's project: every decrypt of a dataset key is recorded. */
  public readonly keyUseAudit: ProjectIamAuditConfig;
  public readonly apis?: CleanRoomApis;
  /**
   * What the party stack's Terraform outputs hold (`project_number`, `workload_identity_provider`,
   * `dataset_<name>_*`), as typed values (references until applied). Set with or without `props.outputs`.
   */
  public readonly outputs: PartyDataPlaneOutputs;

  constructor(scope: Construct, id: string, props: PartyDataPlaneProps) {
    const party = partiesOf(props.policy).find((p) => p.name === props.party);
    if (!party) {
      throw new InvalidPropsError(
        `party "${props.party}" is not a party of room ${props.policy.name}; ` +
          `use one of: ${partiesOf(props.policy).map((p) => p.name).join(", ") || "(none: the room has no parties)"}.`,
        { constructPath: `${scope.node.path}/${id}`, property: "party" },
      );
    }
    // Nothing outside this construct grants on the party's buckets: every bucket's IAM is one authoritative policy.
    super(scope, id, { ...props, home: partyHome(props.policy, party), stage1Iam: "authoritative" });
    const { policy, provider } = props;
    this.party = party;
    this.operator = operatorFacts(policy);

    if (props.enableApis ?? true) {
      this.apis = new CleanRoomApis(this, "apis", { room: party, services: PARTY_APIS, vulnerabilityScanning: false, provider });
    }
    this.pool = new ConfidentialSpacePool(this, "pool", {
      policy: this.home,
      poolId: partyPoolId(policy.name, party.name),
      attributeCondition: compilePartyAttributeCondition(policy, party.name),
      provider,
    });
    this.addDatasets({ ...props, stage1Iam: "authoritative" });
    this.grantSdkStage1Access(`serviceAccount:${this.operator.jupyterServiceAccountEmail}`);
    this.grantSignatureRead(`serviceAccount:${this.operator.jobServiceAccountEmail}`);

    this.keyUseAudit = new ProjectIamAuditConfig(this, "kms-audit", {
      project: party.project,
      service: "cloudkms.googleapis.com",
      auditLogConfig: [{ logType: "ADMIN_READ" }, { logType: "DATA_READ" }, { logType: "DATA_WRITE" }],
      provider,
    });

    this.outputs = {
      projectNumber: this.pool.project.number,
      workloadIdentityProvider: this.pool.credentialAudience,
      datasets: datasetOutputsOf(this.datasets),
    };
    if (props.outputs ?? true) declareTerraformOutputs(this, outputEntries(this.outputs, partyDataPlaneOutputNames(party)));
  }

  protected grantTeeSignatureRead(repository: SignatureRepository): void {
    // The launcher reads tee-signed-image-repos as the operator's TEE service account.
    repository.grantPull(`serviceAccount:${this.operator.teeServiceAccountEmail}`, { id: "pull-tee" });
  }
}
