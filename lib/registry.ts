/**
 * Artifact Registry repositories of the clean room:
 * - service images: the ManaTEE API, reconciler and JupyterLab single-user images, in the
 *   room's region;
 * - user images: the executor base image and one image per job, built by Kaniko and run in
 *   the TEE. Named and placed exactly as the reconciler hard-codes:
 *   `us-docker.pkg.dev/PROJECT/dcr-ENV-user-images` (reference/manatee-runtime.md §10.4).
 *
 * Residency of the user images: a job image is the executor base plus the researcher's
 * workspace, and the workspace holds stage-1 data only (DP-synthetic, sampled or perturbed),
 * never stage-2 data, which is decrypted only inside the TEE at run time. The `us`
 * multi-region may still be wider than the residency set, so the repository's location must
 * be in the residency set or be the multi-region that contains one of its regions; anything
 * else fails at synth. Moving it elsewhere needs a reconciler whose registry.go is patched.
 *
 * Tags are mutable: ManaTEE re-pushes `latest` of every service image and of the executor
 * base, so immutable tags would break every redeploy. The trust anchor is the digest, not the
 * tag: approvals name image digests and the reconciler launches TEEs by digest.
 */
import { TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import {
  ArtifactRegistryRepository,
  ArtifactRegistryRepositoryCleanupPolicies,
} from "@cdktf/provider-google/lib/artifact-registry-repository";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import {
  CleanRoomRef,
  GrantOptions,
  cleanRoomLabels,
  conditionBlock,
  grantIdFor,
  isInResidency,
  requireGrantableMember,
  requireInResidency,
  toGrantOptions,
} from "./common";
import { IamCondition } from "./policy/members";
import { manateeContract, resourceName } from "./policy/names";

export const REGISTRY_ROLES = {
  pull: "roles/artifactregistry.reader",
  push: "roles/artifactregistry.writer",
} as const;

/** Artifact Registry multi-regions and the region prefixes they span. */
const MULTI_REGIONS: Record<string, string> = { us: "us-", europe: "europe-", asia: "asia-" };

const DAY_SECONDS = 86_400;

/** Options shared by both repositories. */
export interface RepositoryOptions {
  /**
   * Repository location. Service images: a region in the residency set. User images: the
   * reconciler hard-codes `us`, so change it only together with a patched reconciler.
   * @default room.region for service images, "us" (the contract) for user images
   */
  readonly location?: string;
  /**
   * Customer-managed key for the repository's content, in the repository's location. The
   * Artifact Registry service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it.
   * @default - Google-managed encryption
   */
  readonly kmsKeyName?: string;
  /**
   * Prevent tags from being moved or deleted once pushed. Off by default because ManaTEE
   * re-pushes `latest`; turn it on when you push versioned tags only.
   * @default false
   */
  readonly immutableTags?: boolean;
}

export interface UserImagesOptions extends RepositoryOptions {
  /**
   * Days after which per-job images (and everything else except the executor base) are
   * deleted. Keep it longer than the longest wait between a job's build and its approval.
   * @default 30
   */
  readonly jobImageRetentionDays?: number;
  /**
   * Versions of the executor base image kept (older untagged ones are cleaned up).
   * @default 5
   */
  readonly keepExecutorBaseVersions?: number;
}

export interface ServiceImagesOptions extends RepositoryOptions {
  /**
   * Versions kept of each service image; older untagged versions are cleaned up.
   * @default 5
   */
  readonly keepVersions?: number;
}

export interface ImageRegistryProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: CleanRoomRef;
  /**
   * Name of the service images repository.
   * @default "dcr-ENV-images"
   */
  readonly serviceImagesRepositoryId?: string;
  /** @default { location: room.region, keepVersions: 5 } */
  readonly serviceImages?: ServiceImagesOptions;
  /** @default { location: "us", jobImageRetentionDays: 30, keepExecutorBaseVersions: 5 } */
  readonly userImages?: UserImagesOptions;
  /**
   * Scan pushed images for vulnerabilities (`INHERITED`: on when the Container Scanning API is,
   * which `CleanRoomApis` enables by default). `false` sets `DISABLED` on both repositories.
   * @default true
   */
  readonly vulnerabilityScanning?: boolean;
  /** @default room.project */
  readonly project?: string;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/** One Docker repository with repository-level grants. */
export class DockerRepository extends Construct {
  public readonly repository: ArtifactRegistryRepository;
  public readonly project: string;
  public readonly location: string;
  public readonly repositoryId: string;
  /** `<location>-docker.pkg.dev/<project>/<repository>` */
  public readonly url: string;
  private readonly provider?: TerraformProvider;
  private tokenGrants = 0;

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
      vulnerabilityScanning: boolean;
      provider?: TerraformProvider;
    },
  ) {
    super(scope, id);
    this.project = spec.project;
    this.location = spec.location;
    this.repositoryId = spec.repositoryId;
    this.provider = spec.provider;
    this.repository = new ArtifactRegistryRepository(this, "repository", {
      project: spec.project,
      location: spec.location,
      repositoryId: spec.repositoryId,
      format: "DOCKER",
      mode: "STANDARD_REPOSITORY",
      description: spec.description,
      labels: spec.labels,
      kmsKeyName: spec.options.kmsKeyName,
      dockerConfig: { immutableTags: spec.options.immutableTags ?? false },
      // Policies act for real: a dry run would let images pile up forever, as in ManaTEE.
      cleanupPolicyDryRun: false,
      cleanupPolicies: spec.cleanupPolicies,
      vulnerabilityScanningConfig: { enablementConfig: spec.vulnerabilityScanning ? "INHERITED" : "DISABLED" },
      provider: spec.provider,
    });
    this.url = `${spec.location}-docker.pkg.dev/${spec.project}/${spec.repositoryId}`;
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
    const childId = options.id ?? grantIdFor(prefix, member, options.condition) ?? `${prefix}-token-${this.tokenGrants++}`;
    const existing = this.node.tryFindChild(childId);
    if (existing instanceof ArtifactRegistryRepositoryIamMember) return existing;
    return new ArtifactRegistryRepositoryIamMember(this, childId, {
      project: this.project,
      location: this.location,
      repository: this.repository.name,
      role,
      member,
      condition: conditionBlock(options.condition),
      dependsOn: options.dependsOn,
      provider: this.provider,
    });
  }
}

/**
 * The clean room's two Docker repositories, with cleanup policies so images do not pile up
 * (ManaTEE keeps every per-job image forever). Grant per repository:
 * `registry.serviceImages.grantPull(cluster.nodeServiceAccountMember)` (or
 * `cluster.grantImagePull(registry.serviceImages)`), `registry.userImages.grantPush(<job service SA>)`
 * for Kaniko, `registry.userImages.grantPull(<TEE SA>)` for the Confidential Space launcher.
 */
export class ImageRegistry extends Construct {
  /** ManaTEE API, reconciler and JupyterLab single-user images. */
  public readonly serviceImages: DockerRepository;
  /** Executor base and per-job images (the contract's `dcr-ENV-user-images` in `us`). */
  public readonly userImages: DockerRepository;

  constructor(scope: Construct, id: string, props: ImageRegistryProps) {
    super(scope, id);
    const { room, provider } = props;
    const project = props.project ?? room.project;
    const contract = manateeContract(room.name, room.project);
    const scanning = props.vulnerabilityScanning ?? true;

    const serviceOptions = props.serviceImages ?? {};
    const serviceLocation = serviceOptions.location ?? room.region;
    requireInResidency(serviceLocation, room.residency, "serviceImages.location");
    const keepVersions = requireCount("serviceImages.keepVersions", serviceOptions.keepVersions ?? 5);

    const userOptions = props.userImages ?? {};
    const userLocation = userOptions.location ?? contract.userImagesLocation;
    requireUserImagesLocation(userLocation, room.residency);
    const retentionDays = requireCount("userImages.jobImageRetentionDays", userOptions.jobImageRetentionDays ?? 30);
    const keepBase = requireCount("userImages.keepExecutorBaseVersions", userOptions.keepExecutorBaseVersions ?? 5);

    this.serviceImages = new DockerRepository(this, "service-images", {
      project,
      location: serviceLocation,
      repositoryId: props.serviceImagesRepositoryId ?? resourceName("artifactRepository", "dcr", contract.env, "images"),
      description: `Clean room ${room.name}: ManaTEE API, reconciler and JupyterLab images`,
      labels: cleanRoomLabels(room.name, "service-images"),
      options: serviceOptions,
      vulnerabilityScanning: scanning,
      cleanupPolicies: [
        {
          id: "keep-recent-versions",
          action: "KEEP",
          mostRecentVersions: { keepCount: keepVersions },
        },
        {
          id: "delete-untagged",
          action: "DELETE",
          condition: { tagState: "UNTAGGED", olderThan: `${7 * DAY_SECONDS}s` },
        },
      ],
      provider,
    });

    this.userImages = new DockerRepository(this, "user-images", {
      project,
      location: userLocation,
      repositoryId: contract.userImagesRepository,
      description: `Clean room ${room.name}: executor base and per-job images (stage-1 workspace, no stage-2 data)`,
      labels: cleanRoomLabels(room.name, "user-images"),
      options: userOptions,
      vulnerabilityScanning: scanning,
      cleanupPolicies: [
        // KEEP wins over DELETE: every job image is built FROM the executor base.
        {
          id: "keep-executor-base",
          action: "KEEP",
          mostRecentVersions: { packageNamePrefixes: [contract.images.executorBase], keepCount: keepBase },
        },
        {
          id: "keep-executor-base-tagged",
          action: "KEEP",
          condition: { tagState: "TAGGED", packageNamePrefixes: [contract.images.executorBase] },
        },
        {
          id: "delete-old-job-images",
          action: "DELETE",
          condition: { tagState: "ANY", olderThan: `${retentionDays * DAY_SECONDS}s` },
        },
        {
          id: "delete-untagged",
          action: "DELETE",
          condition: { tagState: "UNTAGGED", olderThan: `${7 * DAY_SECONDS}s` },
        },
      ],
      provider,
    });
  }
}

function requireUserImagesLocation(location: string, residency: readonly string[]): void {
  if (Token.isUnresolved(location)) return;
  if (isInResidency(location, residency)) return;
  const prefix = MULTI_REGIONS[location];
  if (prefix !== undefined && residency.some((r) => r.startsWith(prefix))) return;
  throw new Error(
    `userImages.location "${location}" lies outside the residency set [${residency.join(", ")}]. ` +
      `ManaTEE's reconciler hard-codes us-docker.pkg.dev; if "us" is not acceptable, choose a location in the residency set ` +
      `(or its multi-region) and run a reconciler whose registry.go is patched to match.`,
  );
}

function requireCount(field: string, value: number): number {
  if (!Token.isUnresolved(value) && !(Number.isInteger(value) && value >= 1)) {
    throw new Error(`${field} ${value} is not a positive whole number. Use 1 or more.`);
  }
  return value;
}

function requirePrincipalKind(member: string): void {
  if (Token.isUnresolved(member)) return;
  if (!/^(user|group|serviceAccount|domain|principal|principalSet):.+/.test(member)) {
    throw new Error(`member "${member}" is not an IAM principal. Prefix it with its kind, e.g. "serviceAccount:sa@project.iam.gserviceaccount.com".`);
  }
}
