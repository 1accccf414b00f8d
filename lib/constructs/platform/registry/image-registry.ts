/**
 * The clean room's three Docker repositories (service images, executor bases, user images), all
 * in the room's region, with cleanup policies so images do not pile up.
 *
 * Why its own file: which repositories exist, where, and how long their images live is one
 * decision; the repository construct itself is in repository.ts, the deploy's builds beside it.
 */
import { TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ArtifactRegistryRepositoryCleanupPolicies } from "@cdktf/provider-google/lib/artifact-registry-repository";
import { CleanRoomRef, cleanRoomLabels, requireInResidency } from "../../../internal/common";
import { jobPathNames, manateeContract, resourceName } from "../../../policy/names";
import { DockerRepository, RepositoryOptions } from "./repository";
import { InvalidPropsError } from "../../../errors";

const DAY_SECONDS = 86_400;

export interface UserImagesOptions extends RepositoryOptions {
  /**
   * Days after which per-job images are deleted. Keep it longer than the longest wait between
   * a job's build and its approval and launch.
   * @default 30
   */
  readonly jobImageRetentionDays?: number;
}

export interface VersionedImagesOptions extends RepositoryOptions {
  /**
   * Versions kept of each image; older untagged versions are cleaned up after a week.
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
  /** @default { location: room.region, keepVersions: 5, immutableTags: true } */
  readonly serviceImages?: VersionedImagesOptions;
  /** @default { location: room.region, keepVersions: 5, immutableTags: true } */
  readonly executorBases?: VersionedImagesOptions;
  /** @default { location: room.region, jobImageRetentionDays: 30, immutableTags: false } */
  readonly userImages?: UserImagesOptions;
  /**
   * Scan pushed images for vulnerabilities (`INHERITED`: on when the Container Scanning API is,
   * which `CleanRoomApis` enables by default). `false` sets `DISABLED` on every repository.
   * @default true
   */
  readonly vulnerabilityScanning?: boolean;
  /** @default room.project */
  readonly project?: string;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * The clean room's three Docker repositories, with cleanup policies so images do not pile up
 * (ManaTEE keeps every per-job image forever). Grant per repository, e.g.
 * `cluster.grantImagePull(registry.serviceImages)`, `registry.userImages.grantPull(<TEE SA>)`.
 */
export class ImageRegistry extends Construct {
  /** The job service and JupyterLab images (deploy-built). */
  public readonly serviceImages: DockerRepository;
  /** The executor base(s) jobs are built FROM (deploy-built). */
  public readonly executorBases: DockerRepository;
  /** One image per job (`dcr-ENV-user-images`), built by the job builder, pulled by the TEE. */
  public readonly userImages: DockerRepository;

  // Fields, super(), props: the construct header every L2 here shares in shape (gpu-template, deploy-image-builder, pools), no shared logic.
  constructor(scope: Construct, id: string, props: ImageRegistryProps) {
    super(scope, id);
    const { room, provider } = props;
    const project = props.project ?? room.project;
    const contract = manateeContract(room.name, room.project);
    const scanning = props.vulnerabilityScanning ?? true;

    const versioned = (field: "serviceImages" | "executorBases") => {
      const options = props[field] ?? {};
      const location = options.location ?? room.region;
      requireInResidency(location, room.residency, `${field}.location`);
      const keep = requireCount(`${field}.keepVersions`, options.keepVersions ?? 5);
      const cleanupPolicies: ArtifactRegistryRepositoryCleanupPolicies[] = [
        { id: "keep-recent-versions", action: "KEEP", mostRecentVersions: { keepCount: keep } },
        { id: "delete-untagged", action: "DELETE", condition: { tagState: "UNTAGGED", olderThan: `${7 * DAY_SECONDS}s` } },
      ];
      return { options, location, cleanupPolicies };
    };

    const service = versioned("serviceImages");
    this.serviceImages = new DockerRepository(this, "service-images", {
      project,
      location: service.location,
      repositoryId: props.serviceImagesRepositoryId ?? resourceName("artifactRepository", "dcr", contract.env, "images"),
      description: `Clean room ${room.name}: job service and JupyterLab images (built by the deploy)`,
      labels: cleanRoomLabels(room.name, "service-images"),
      options: service.options,
      immutableTagsDefault: true,
      vulnerabilityScanning: scanning,
      cleanupPolicies: service.cleanupPolicies,
      provider,
    });

    const bases = versioned("executorBases");
    this.executorBases = new DockerRepository(this, "executor-bases", {
      project,
      location: bases.location,
      repositoryId: jobPathNames(room).executorBasesRepositoryId,
      description: `Clean room ${room.name}: executor bases every job image is built from (built by the deploy)`,
      labels: cleanRoomLabels(room.name, "executor-bases"),
      options: bases.options,
      immutableTagsDefault: true,
      vulnerabilityScanning: scanning,
      cleanupPolicies: bases.cleanupPolicies,
      provider,
    });

    const userOptions = props.userImages ?? {};
    const userLocation = userOptions.location ?? room.region;
    requireInResidency(userLocation, room.residency, "userImages.location");
    const retentionDays = requireCount("userImages.jobImageRetentionDays", userOptions.jobImageRetentionDays ?? 30);
    this.userImages = new DockerRepository(this, "user-images", {
      project,
      location: userLocation,
      repositoryId: contract.userImagesRepository,
      description: `Clean room ${room.name}: per-job images (executor base + stage-1 workspace layer, no stage-2 data)`,
      labels: cleanRoomLabels(room.name, "user-images"),
      options: userOptions,
      immutableTagsDefault: false,
      vulnerabilityScanning: scanning,
      cleanupPolicies: [
        {
          id: "delete-old-job-images",
          action: "DELETE",
          condition: { tagState: "ANY", olderThan: `${retentionDays * DAY_SECONDS}s` },
        },
        { id: "delete-untagged", action: "DELETE", condition: { tagState: "UNTAGGED", olderThan: `${7 * DAY_SECONDS}s` } },
      ],
      provider,
    });
  }
}

function requireCount(field: string, value: number): number {
  if (!Token.isUnresolved(value) && !(Number.isInteger(value) && value >= 1)) {
    throw new InvalidPropsError(`${field} ${value} is not a positive whole number. Use 1 or more.`);
  }
  return value;
}
