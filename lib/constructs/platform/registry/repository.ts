/**
 * One Artifact Registry Docker repository with repository-level grants (pull, push), and the
 * roles those grants use.
 *
 * Why its own file: every repository of the room (lib/constructs/platform/registry/image-registry.ts) and the deploy
 * builder's push grants go through this one construct; the IAM rules for images live here.
 */
import { TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import {
  ArtifactRegistryRepository,
  ArtifactRegistryRepositoryCleanupPolicies,
} from "@cdktf/provider-google/lib/artifact-registry-repository";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { GrantOptions, conditionBlock, requireGrantableMember, toGrantOptions } from "../../../internal/common";
import { IamMemberGrants } from "../../iam-grants";
import { IamCondition } from "../../../policy/members";
import { InvalidPropsError } from "../../../errors";

export const REGISTRY_ROLES = {
  pull: "roles/artifactregistry.reader",
  push: "roles/artifactregistry.writer",
} as const;

/** Options shared by the repositories. */
export interface RepositoryOptions {
  /**
   * Repository location: a region in the residency set.
   * @default room.region
   */
  readonly location?: string;
  /**
   * Customer-managed key for the repository's content, in the repository's location. The
   * Artifact Registry service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it.
   * @default - Google-managed encryption
   */
  readonly kmsKeyName?: string;
  /**
   * Prevent tags from being moved or deleted once pushed.
   * @default true for service images and executor bases (deploy-built, tagged by content hash),
   *   false for user images (a retried job build pushes its `job-<uuid>:latest` again; jobs are
   *   approved and launched by digest)
   */
  readonly immutableTags?: boolean;
}

/** One Docker repository with repository-level grants. */
export class DockerRepository extends Construct {
  public readonly repository: ArtifactRegistryRepository;
  public readonly project: string;
  public readonly location: string;
  public readonly repositoryId: string;
  /** `<location>-docker.pkg.dev/<project>/<repository>` */
  public readonly url: string;
  public readonly immutableTags: boolean;
  /** Every grant on the repository, one per (role, member, condition), whoever asks (the cluster, the TEE, the room). */
  private readonly grants: IamMemberGrants<ArtifactRegistryRepositoryIamMember>;

  constructor(
    scope: Construct,
    id: string,
    spec: {
      project: string;
      location: string;
      repositoryId: string;
      description: string;
      labels: Record<string, string>;
      cleanupPolicies: ArtifactRegistryRepositoryCleanupPolicies[];
      options: RepositoryOptions;
      immutableTagsDefault: boolean;
      vulnerabilityScanning: boolean;
      provider?: TerraformProvider;
    },
  ) {
    super(scope, id);
    this.project = spec.project;
    this.location = spec.location;
    this.repositoryId = spec.repositoryId;
    this.immutableTags = spec.options.immutableTags ?? spec.immutableTagsDefault;
    this.repository = new ArtifactRegistryRepository(this, "repository", {
      project: spec.project,
      location: spec.location,
      repositoryId: spec.repositoryId,
      format: "DOCKER",
      mode: "STANDARD_REPOSITORY",
      description: spec.description,
      labels: spec.labels,
      kmsKeyName: spec.options.kmsKeyName,
      dockerConfig: { immutableTags: this.immutableTags },
      // Policies act for real: a dry run would let images pile up forever, as in ManaTEE.
      cleanupPolicyDryRun: false,
      cleanupPolicies: spec.cleanupPolicies,
      vulnerabilityScanningConfig: { enablementConfig: spec.vulnerabilityScanning ? "INHERITED" : "DISABLED" },
      provider: spec.provider,
    });
    this.url = `${spec.location}-docker.pkg.dev/${spec.project}/${spec.repositoryId}`;
    this.grants = new IamMemberGrants(this, (scope, id, b) =>
      new ArtifactRegistryRepositoryIamMember(scope, id, {
        project: this.project,
        location: this.location,
        repository: this.repository.name,
        role: b.role,
        member: b.member,
        condition: conditionBlock(b.condition),
        dependsOn: b.dependsOn,
        provider: spec.provider,
      }),
    );
  }

  /** roles/artifactregistry.reader on this repository only. */
  public grantPull(member: string, options?: GrantOptions | IamCondition): ArtifactRegistryRepositoryIamMember {
    return this.grant("pull", REGISTRY_ROLES.pull, member, toGrantOptions(options));
  }

  /** roles/artifactregistry.writer (push and pull) on this repository only. */
  public grantPush(member: string, options?: GrantOptions | IamCondition): ArtifactRegistryRepositoryIamMember {
    return this.grant("push", REGISTRY_ROLES.push, member, toGrantOptions(options));
  }

  private grant(prefix: string, role: string, member: string, options: GrantOptions): ArtifactRegistryRepositoryIamMember {
    requireGrantableMember(member, "member");
    requirePrincipalKind(member);
    return this.grants.grant(prefix, { role, member, condition: options.condition, dependsOn: options.dependsOn, id: options.id });
  }
}

function requirePrincipalKind(member: string): void {
  if (Token.isUnresolved(member)) return;
  if (!/^(user|group|serviceAccount|domain|principal|principalSet):.+/.test(member)) {
    throw new InvalidPropsError(`member "${member}" is not an IAM principal. Prefix it with its kind, e.g. "serviceAccount:sa@project.iam.gserviceaccount.com".`);
  }
}
