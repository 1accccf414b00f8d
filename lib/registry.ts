/**
 * Artifact Registry repositories of the clean room, and the images the deploy builds itself.
 *
 * Three repositories, all in the room's region (never a multi-region: the residency set is a
 * list of regions):
 * - service images: the job service and the JupyterLab single-user image, pulled by GKE nodes;
 * - executor bases: the image every job is built FROM (a job image is one of these plus one
 *   workspace layer), read by the job builder only;
 * - user images: one image per job, written by the job builder, pulled by the TEE.
 *
 * Nothing is built or pushed by hand: `ContainerImageBuild` builds an image with Cloud Build
 * from a directory shipped in this package (a cdktf `TerraformAsset`) during `terraform apply`,
 * as the room's deploy builder service account, and tags it with the content hash of that
 * directory. Repositories holding deploy-built images have immutable tags, so a tag names
 * exactly one image: the Kubernetes objects can name images by tag, known at synth time.
 */
import { AssetType, DataResource, Fn, ITerraformDependable, TerraformAsset, TerraformProvider, Token } from "cdktf";
import * as fs from "node:fs";
import * as path from "node:path";
import { Construct } from "constructs";
import {
  ArtifactRegistryRepository,
  ArtifactRegistryRepositoryCleanupPolicies,
} from "@cdktf/provider-google/lib/artifact-registry-repository";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { DataGoogleArtifactRegistryDockerImage } from "@cdktf/provider-google/lib/data-google-artifact-registry-docker-image";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import {
  CleanRoomRef,
  GrantOptions,
  cleanRoomLabels,
  conditionBlock,
  grantIdFor,
  requireGrantableMember,
  requireInResidency,
  toGrantOptions,
} from "./common";
import { IamCondition } from "./policy/members";
import { EXECUTOR_BASE_IMAGE, NAME_RULES, jobPathNames, manateeContract, manateeEnv, resourceName } from "./policy/names";
import { BucketEncryptionKey, CleanRoomBucket } from "./storage";
import { directoryHash } from "./verifier";

export const REGISTRY_ROLES = {
  pull: "roles/artifactregistry.reader",
  push: "roles/artifactregistry.writer",
} as const;

/** Package names of the images the deploy builds (in `serviceImages` unless noted). */
export const DEPLOY_IMAGE_NAMES = {
  jobService: "job-service",
  jupyterlab: "jupyterlab-singleuser",
  /** In `executorBases` (job builds read only that repository), as are the build steps. */
  executorBase: EXECUTOR_BASE_IMAGE,
  buildStepGcloud: "build-step-gcloud",
  buildStepGcrane: "build-step-gcrane",
} as const;

const DAY_SECONDS = 86_400;

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

/** One Docker repository with repository-level grants. */
export class DockerRepository extends Construct {
  public readonly repository: ArtifactRegistryRepository;
  public readonly project: string;
  public readonly location: string;
  public readonly repositoryId: string;
  /** `<location>-docker.pkg.dev/<project>/<repository>` */
  public readonly url: string;
  public readonly immutableTags: boolean;
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
      immutableTagsDefault: boolean;
      vulnerabilityScanning: boolean;
      provider?: TerraformProvider;
    },
  ) {
    super(scope, id);
    this.project = spec.project;
    this.location = spec.location;
    this.repositoryId = spec.repositoryId;
    this.provider = spec.provider;
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

// ---------------------------------------------------------------------------------------------
// Images built by the deploy
// ---------------------------------------------------------------------------------------------

export interface DeployImageBuilderProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: CleanRoomRef;
  /** Repositories the deploy pushes to: writer on each, nothing else. */
  readonly targets: readonly DockerRepository[];
  /**
   * CMEK of the bucket holding the uploaded build sources and the build logs (the room's
   * `StorageEncryptionKey`).
   * @default - Google-managed encryption
   */
  readonly encryptionKey?: BucketEncryptionKey;
  /** Days after which uploaded sources and build logs are deleted. @default 30 */
  readonly expireAfterDays?: number;
  /** Resources to create first, typically `CleanRoomApis.dependables`. @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default room.project */
  readonly project?: string;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * The identity deploy-time image builds run as (`gcloud builds submit --service-account`), and
 * the bucket their sources are staged in and their logs written to. It can push to the
 * repositories of deploy-built images and nothing else: no user-images, no compute, no data.
 * Job builds (researcher code) run as a different account (`JobServiceIdentity.builderServiceAccount`),
 * so a `pip install` in a job build can never touch a deploy-built image.
 */
export class DeployImageBuilder extends Construct {
  public readonly serviceAccount: ServiceAccount;
  /** Known at synth time: `gcloud builds submit` names it. */
  public readonly serviceAccountEmail: string;
  public readonly member: string;
  /** Build sources (`sources/`) and logs (`logs/`). */
  public readonly bucket: CleanRoomBucket;
  public readonly bucketName: string;
  public readonly project: string;
  public readonly region: string;

  constructor(scope: Construct, id: string, props: DeployImageBuilderProps) {
    super(scope, id);
    const { room, provider } = props;
    this.project = props.project ?? room.project;
    this.region = room.region;
    if (props.targets.length === 0) {
      throw new Error(`DeployImageBuilder "targets" is empty: name the repositories the deploy pushes images to.`);
    }
    const accountId = resourceName("serviceAccountId", "dcr", manateeEnv(room.name), "deploy");
    this.serviceAccount = new ServiceAccount(this, "sa", {
      project: this.project,
      accountId,
      displayName: `Deploy image builds of ${room.name}`.slice(0, NAME_RULES.serviceAccountDisplayName.max),
      description: "Cloud Build identity of the deploy's own images (job service, JupyterLab, executor base). Pushes only to their repositories.",
      dependsOn: props.dependsOn,
      provider,
    });
    this.serviceAccountEmail = `${accountId}@${this.project}.iam.gserviceaccount.com`;
    this.member = this.serviceAccount.member;

    this.bucket = new CleanRoomBucket(this, "bucket", {
      room,
      // Support bucket of the job path, like the hub bucket: hardened, CMEK, expiring, no retention policy
      // (Cloud Build cannot write logs into a bucket with one).
      purpose: "hub",
      bucketName: resourceName("bucket", this.project, room.name, "deploy-builds"),
      encryptionKey: props.encryptionKey,
      expireAfterDays: props.expireAfterDays ?? 30,
      labels: { use: "deploy-builds" },
      project: this.project,
      provider,
    });
    this.bucketName = this.bucket.bucketName;
    // Reads the staged source, writes (and rewrites, while streaming) its log objects: objectUser
    // is objectAdmin without object ACL/IAM (which uniform bucket-level access ignores anyway).
    new StorageBucketIamMember(this, "bucket-objects", {
      bucket: this.bucket.bucket.name,
      role: "roles/storage.objectUser",
      member: this.member,
      provider,
    });
    props.targets.forEach((repo, i) => repo.grantPush(this.member, { id: `deploy-builder-push-${i}` }));
  }
}

export interface ContainerImageBuildProps {
  /**
   * Directory holding the build context: a `Dockerfile` at its root and everything it copies.
   * Shipped in this package; copied into the stack as a `TerraformAsset`.
   */
  readonly sourceDir: string;
  /** Repository the image is pushed to; it should have immutable tags. */
  readonly repository: DockerRepository;
  /** Package name inside the repository, e.g. `job-service`. */
  readonly imageName: string;
  /** Who runs the build and where its source and logs go. */
  readonly builder: DeployImageBuilder;
  /** Cloud Build timeout in seconds. @default 1800 */
  readonly timeoutSeconds?: number;
  /**
   * Cloud Build machine type (`e2-highcpu-8`, …), for heavy builds.
   * @default - Cloud Build's default machine
   */
  readonly machineType?: string;
  /** Resources the build must wait for (the repository grants, the APIs). @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** Provider of the digest lookup (`resolveDigest`). @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * Builds a container image with Cloud Build during `terraform apply`, from a directory shipped
 * in this package: a `terraform_data` resource whose `local-exec` provisioner runs
 * `gcloud builds submit <dir> --tag <repo>/<name>:<content hash>` as the deploy builder, in the
 * room's region. `triggers_replace` is the content hash, so the build runs again exactly when
 * the directory changes; the tag is that hash, and the repository's tags are immutable, so the
 * tag names exactly one image. The command first looks the tag up and skips the build when the
 * image already exists (a state lost or a second room in the project), so it is idempotent.
 *
 * Needs `gcloud` on the deploying machine, authenticated as an identity that may act as the
 * deploy builder and read its bucket (a project owner can).
 */
export class ContainerImageBuild extends Construct {
  /** `<repo>/<name>:<hash>`, known at synth time. */
  public readonly imageReference: string;
  /** Hex SHA-256 of the build context (sorted paths and contents): the tag. */
  public readonly sourceHash: string;
  public readonly tag: string;
  public readonly asset: TerraformAsset;
  /** The `terraform_data` resource that runs the build; depend on it to wait for the image. */
  public readonly build: DataResource;
  private readonly props: ContainerImageBuildProps;
  private digestSource?: DataGoogleArtifactRegistryDockerImage;

  constructor(scope: Construct, id: string, props: ContainerImageBuildProps) {
    super(scope, id);
    this.props = props;
    const sourceDir = path.resolve(props.sourceDir);
    if (!fs.existsSync(path.join(sourceDir, "Dockerfile"))) {
      throw new Error(
        `ContainerImageBuild "sourceDir" "${sourceDir}" has no Dockerfile at its root. Point it at a build context ` +
          `(for the job service: run \`node job-service/scripts/build.js\` first; npm run synth does this).`,
      );
    }
    if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(props.imageName)) {
      throw new Error(`ContainerImageBuild "imageName" "${props.imageName}" is not an image name. Use lowercase letters, digits, '.', '_' and '-'.`);
    }
    const timeout = props.timeoutSeconds ?? 1800;
    if (!Number.isInteger(timeout) || timeout < 60 || timeout > 86_400) {
      throw new Error(`ContainerImageBuild "timeoutSeconds" ${timeout} is out of range. Use 60 to 86400 seconds.`);
    }
    if (props.machineType !== undefined && !/^[a-z0-9]+(?:-[a-z0-9]+)+$/.test(props.machineType)) {
      throw new Error(`ContainerImageBuild "machineType" "${props.machineType}" is not a machine type such as "e2-highcpu-8".`);
    }

    this.sourceHash = directoryHash(sourceDir);
    this.tag = this.sourceHash.slice(0, 32);
    this.imageReference = `${props.repository.url}/${props.imageName}:${this.tag}`;
    // The hash names the asset's folder too, so the synthesized path is the same on every machine.
    this.asset = new TerraformAsset(this, "context", { path: sourceDir, type: AssetType.DIRECTORY, assetHash: this.sourceHash });

    const builder = props.builder;
    const env: Record<string, string> = {
      IMAGE: this.imageReference,
      SOURCE: this.asset.path,
      PROJECT: builder.project,
      REGION: builder.region,
      BUILDER: `projects/${builder.project}/serviceAccounts/${builder.serviceAccountEmail}`,
      STAGING: `gs://${builder.bucketName}/sources`,
      LOGS: `gs://${builder.bucketName}/logs`,
      TIMEOUT: `${timeout}s`,
    };
    const machine = props.machineType ? ' --machine-type "$MACHINE_TYPE"' : "";
    if (props.machineType) env.MACHINE_TYPE = props.machineType;
    this.build = new DataResource(this, "build", {
      // Rebuild exactly when the context (hence the tag) changes.
      triggersReplace: { image: this.imageReference },
      input: { image: this.imageReference },
      provisioners: [
        {
          type: "local-exec",
          interpreter: ["/bin/sh", "-c"],
          // Values come from the environment, quoted: nothing in them is parsed by the shell.
          command:
            'gcloud artifacts docker images describe "$IMAGE" --project "$PROJECT" --quiet >/dev/null 2>&1 || ' +
            'gcloud builds submit "$SOURCE" --tag "$IMAGE" --project "$PROJECT" --region "$REGION" ' +
            '--service-account "$BUILDER" --gcs-source-staging-dir "$STAGING" --gcs-log-dir "$LOGS" ' +
            `--timeout "$TIMEOUT"${machine} --quiet`,
          environment: env,
        },
      ],
      // The builder, its bucket and grants come from the platform stack, which deploys first.
      dependsOn: props.dependsOn,
    });
  }

  /**
   * The image's digest (`sha256:…`), read from Artifact Registry after the build (a data source
   * that waits for it): for configuration that must pin a digest, such as approved executor bases.
   */
  public get digest(): string {
    return Fn.element(Fn.split("@", this.resolveDigest().selfLink), 1);
  }

  /** `<repo>/<name>@sha256:…` */
  public get pinnedReference(): string {
    return `${this.props.repository.url}/${this.props.imageName}@${this.digest}`;
  }

  private resolveDigest(): DataGoogleArtifactRegistryDockerImage {
    this.digestSource ??= new DataGoogleArtifactRegistryDockerImage(this, "image", {
      project: this.props.repository.project,
      location: this.props.repository.location,
      repositoryId: this.props.repository.repositoryId,
      imageName: `${this.props.imageName}:${this.tag}`,
      // Read after the build, not at plan time (the tag does not exist before it).
      dependsOn: [this.build],
      provider: this.props.provider,
    });
    return this.digestSource;
  }
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
