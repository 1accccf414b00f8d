/**
 * A dataset's approvals repository (cosign signatures), in the project that holds the dataset.
 */
import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { ArtifactRegistryRepository } from "@cdktf/provider-google/lib/artifact-registry-repository";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import {
  CLEAN_ROOM_LABEL,
  COMPONENT,
  CleanRoomRef,
  GrantOptions,
  cleanRoomLabels,
  requireGrantableMember,
  requireInResidency,
} from "../../internal/common";
import { IamMemberGrants } from "../iam-grants";
import { dataPlaneNames, dockerRepositoryPath } from "../../policy/names";

export interface SignatureRepositoryProps {
  readonly room: CleanRoomRef;
  readonly dataset: string;
  /** The only principals that may push (approve). */
  readonly owners: readonly string[];
  /** @default room.region (never a multi-region: the data stays in the residency set) */
  readonly location?: string;
  /** @default dataPlaneNames(room).signatureRepositoryId(dataset): "<room>-<dataset>-approvals" */
  readonly repositoryId?: string;
  /** @default - Google-managed encryption */
  readonly kmsKeyName?: string;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

/**
 * A dataset's approvals: a Docker repository of cosign signatures, pushed by `manatee jobs approve`
 * and named in `tee-signed-image-repos` at launch. Owners get `roles/artifactregistry.writer`;
 * readers (TEE, job service) get `roles/artifactregistry.reader` through `grantPull`. There is no
 * cleanup policy: deleting a signature revokes nothing (docs/job-path.md) and they are the audit trail.
 */
export class SignatureRepository extends Construct {
  public readonly repository: ArtifactRegistryRepository;
  public readonly dataset: string;
  public readonly location: string;
  /** `<region>-docker.pkg.dev/<project>/<repository>`: the value for `tee-signed-image-repos`. */
  public readonly url: string;
  /** The repository id (literal) and project, so the repository is an `ImageRepositoryRef`. */
  public readonly repositoryId: string;
  public readonly project: string;
  public readonly writerGrants: readonly ArtifactRegistryRepositoryIamMember[];
  /** Every grant on the repository, one per (role, member), whoever asks. */
  private readonly grants: IamMemberGrants<ArtifactRegistryRepositoryIamMember>;

  constructor(scope: Construct, id: string, props: SignatureRepositoryProps) {
    super(scope, id);
    const { room } = props;
    this.dataset = props.dataset;
    this.location = props.location ?? room.region;
    requireInResidency(this.location, room.residency, "location");
    const repositoryId = (this.repositoryId = props.repositoryId ?? dataPlaneNames(room).signatureRepositoryId(props.dataset));
    this.project = room.project;
    this.repository = new ArtifactRegistryRepository(this, "repository", {
      project: room.project,
      location: this.location,
      repositoryId,
      format: "DOCKER",
      mode: "STANDARD_REPOSITORY",
      description: `Approvals (cosign signatures) by the owners of dataset ${props.dataset}`,
      labels: { ...cleanRoomLabels(room.name, COMPONENT.signatureRepository), [CLEAN_ROOM_LABEL.dataset]: props.dataset },
      kmsKeyName: props.kmsKeyName,
      vulnerabilityScanningConfig: { enablementConfig: "DISABLED" },
      provider: props.provider,
    });
    this.url = dockerRepositoryPath(this.location, room.project, repositoryId);
    this.grants = new IamMemberGrants(this, (scope, grantId, b) =>
      new ArtifactRegistryRepositoryIamMember(scope, grantId, {
        project: this.repository.project,
        location: this.location,
        repository: this.repository.name,
        role: b.role,
        member: b.member,
        dependsOn: b.dependsOn,
        provider: props.provider,
      }),
    );
    this.writerGrants = props.owners.map((o) => this.grant("push", "roles/artifactregistry.writer", o, {}));
  }

  /** `roles/artifactregistry.reader`: verify approvals, never add one. */
  public grantPull(member: string, options: GrantOptions = {}): ArtifactRegistryRepositoryIamMember {
    return this.grant("pull", "roles/artifactregistry.reader", member, options);
  }

  private grant(prefix: string, role: string, member: string, options: GrantOptions): ArtifactRegistryRepositoryIamMember {
    requireGrantableMember(member, "member");
    return this.grants.grant(prefix, { role, member, dependsOn: options.dependsOn, id: options.id });
  }
}
