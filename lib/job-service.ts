/**
 * The room's own job service (job-service/): the REST API the JupyterLab extension calls, which
 * verifies the researcher at JupyterHub, builds the job image with Cloud Build, waits for the
 * data owners' approvals and launches the job VM from the room's instance template
 * (docs/job-path.md). It replaces ManaTEE's Go API and reconciler images.
 *
 * Two halves, one per stack:
 * - `JobServiceIdentity` (platform stack): the Google service accounts — the job service, the
 *   job builder and JupyterLab — with every grant scoped to the one bucket, repository, database,
 *   service account or VM name it is for. Build is not launch: the builder (which runs the
 *   researcher's `pip install`) has no compute permission and cannot act as the TEE account; the
 *   job service holds no approver key and cannot write a signature.
 * - `JobService` (workloads stack): namespace, Kubernetes service accounts bound to those Google
 *   accounts, the configuration (`JobServiceConfig` JSON), one Deployment, the `manatee` Service
 *   the extension calls, and NetworkPolicies.
 */
import { Fn, ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { ProjectIamCustomRole } from "@cdktf/provider-google/lib/project-iam-custom-role";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { ServiceAccountIamMember } from "@cdktf/provider-google/lib/service-account-iam-member";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1";
import { DeploymentV1 } from "@cdktf/provider-kubernetes/lib/deployment-v1";
import { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1";
import { NetworkPolicyV1 } from "@cdktf/provider-kubernetes/lib/network-policy-v1";
import { ServiceAccountV1 } from "@cdktf/provider-kubernetes/lib/service-account-v1";
import { ServiceV1 } from "@cdktf/provider-kubernetes/lib/service-v1";
import type { JobServiceConfig } from "../job-service/src/config";
import { conditionBlock } from "./common";
import { ImageRepositoryRef } from "./confidential-space";
import { IamCondition } from "./policy/members";
import { CleanRoomPolicy } from "./policy/model";
import { compileJobServiceConfig, defaultJobInstancePrefix } from "./policy/job-service-config";
import { NAME_RULES, manateeContract, manateeEnv, platformNames, resourceName } from "./policy/names";
import { BucketEncryptionKey, CleanRoomBucket } from "./storage";

// ---------------------------------------------------------------------------------------------
// Shared contract between the job service, its image and JupyterHub
// ---------------------------------------------------------------------------------------------

/** @default namespace of the job service and JupyterHub (ManaTEE deploys both into one). */
export const DEFAULT_JOB_SERVICE_NAMESPACE = "manatee";

/** Name of the ClusterIP Service in front of the job service: the extension's `DATA_CLEAN_ROOM_HOST` names it. */
export const JOB_SERVICE_API_SERVICE = "manatee";

/** The job service listens here and answers `GET /health` (job-service/src/main.ts). */
export const JOB_SERVICE_PORT = 8080;
export const JOB_SERVICE_HEALTH_PATH = "/health";

/** Pod labels that select the job service (and only it): JupyterHub's egress policy uses them. */
export const JOB_SERVICE_API_SELECTOR: Readonly<Record<string, string>> = {
  "app.kubernetes.io/name": "manatee",
  "app.kubernetes.io/component": "job-service",
};

/** Label z2jh (KubeSpawner) puts on every JupyterLab single-user pod. */
export const JUPYTERHUB_SINGLEUSER_POD_LABELS: Readonly<Record<string, string>> = {
  component: "singleuser-server",
};

/** z2jh's hub NetworkPolicy admits pods of the release namespace that carry this label. */
export const JUPYTERHUB_HUB_ACCESS_LABELS: Readonly<Record<string, string>> = {
  "hub.jupyter.org/network-access-hub": "true",
};

/** The hub's API inside the release namespace (z2jh's `hub` Service, port 8081). */
export const DEFAULT_HUB_API_URL = "http://hub:8081/hub/api";

/** Only nodes running the GKE metadata server give pods their Workload Identity. */
export const GKE_METADATA_NODE_SELECTOR: Readonly<Record<string, string>> = {
  "iam.gke.io/gke-metadata-server-enabled": "true",
};

/** Where the Deployment mounts the compiled `JobServiceConfig`. */
export const JOB_SERVICE_CONFIG_DIR = "/etc/manatee";
export const JOB_SERVICE_CONFIG_FILE = "job-service.json";

/**
 * The environment the container entry (job-service/src/main.ts) reads: the config file, and the
 * deployment's resources that are not part of the policy's `JobServiceConfig`.
 */
export const JOB_SERVICE_ENV = {
  configFile: "MANATEE_JOB_SERVICE_CONFIG",
  port: "PORT",
  hubApiUrl: "JUPYTERHUB_API_URL",
  project: "GOOGLE_CLOUD_PROJECT",
  firestoreDatabase: "MANATEE_FIRESTORE_DATABASE",
  workspaceBucket: "MANATEE_WORKSPACE_BUCKET",
  builderServiceAccount: "MANATEE_BUILDER_SERVICE_ACCOUNT",
  buildLogsBucket: "MANATEE_BUILD_LOGS_BUCKET",
  buildStepGcloud: "MANATEE_BUILD_STEP_GCLOUD",
  buildStepCrane: "MANATEE_BUILD_STEP_CRANE",
} as const;

/**
 * The tools job builds run in Cloud Build, pinned by digest (never a moving tag).
 * `CleanRoomWorkloads` mirrors them into the room's executor-bases repository at deploy
 * (job-service/build-steps) and passes those copies' digests.
 */
export interface BuildStepImages {
  /** gcloud, bash and GNU tar: fetches and unpacks the workspace, packs the layer. */
  readonly gcloud: string;
  /** gcrane's debug image (with a shell): appends the workspace layer to the base by digest. */
  readonly crane: string;
}

/** The in-cluster URL of the job service (what the JupyterLab extension reads from `DATA_CLEAN_ROOM_HOST`). */
export function jobServiceApiUrl(namespace: string = DEFAULT_JOB_SERVICE_NAMESPACE): string {
  return `http://${JOB_SERVICE_API_SERVICE}.${namespace}.svc.cluster.local`;
}

/** A container image reference split the way Helm charts and registries want it. */
export interface ImageReference {
  /** Registry host and path, without tag or digest: `us-central1-docker.pkg.dev/p/repo/image`. */
  readonly name: string;
  readonly tag?: string;
  /** `sha256:<64 hex>` */
  readonly digest?: string;
}

const IMAGE_REFERENCE =
  /^(?<name>(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/;

/**
 * Parse a full image reference (`registry.host/path/image[:tag][@sha256:…]`). Throws, naming
 * `field`, unless the reference names a registry host (a short name such as `job-service:1`
 * would be pulled from Docker Hub) and pins a tag or a digest.
 */
export function parseImageReference(reference: string, field: string): ImageReference {
  const match = IMAGE_REFERENCE.exec(reference);
  if (!match?.groups || (!match.groups.tag && !match.groups.digest)) {
    throw new Error(
      `${field} "${reference}" is not a full image reference. Use registry-host/path/image:tag or ` +
        `registry-host/path/image@sha256:<digest>, e.g. "us-central1-docker.pkg.dev/my-project/my-repo/job-service@sha256:…".`,
    );
  }
  const { name, tag, digest } = match.groups;
  return { name, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

const REGISTRY_URL = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;

/** Throw unless `url` is a registry path such as `us-central1-docker.pkg.dev/my-project/my-repo`. */
export function requireRegistryUrl(url: string, field: string): void {
  if (Token.isUnresolved(url)) return;
  if (!REGISTRY_URL.test(url)) {
    throw new Error(
      `${field} "${url}" is not a registry path. Pass the Artifact Registry repository URL without a trailing slash, ` +
        `e.g. "us-central1-docker.pkg.dev/my-project/dcr-room-images".`,
    );
  }
}

/** VM names are `<prefix>-<uuid v4>` (36 chars): the prefix keeps them within GCE's 63. */
const INSTANCE_PREFIX = /^[a-z][-a-z0-9]{0,25}$/;

/** `<room>-job` (room names have at most 20 characters): the job VMs' name prefix. */
export function jobInstancePrefix(roomName: string): string {
  const prefix = defaultJobInstancePrefix({ name: roomName });
  if (!INSTANCE_PREFIX.test(prefix)) {
    throw new Error(`job VM name prefix "${prefix}" (from the room name) must be 1-26 lowercase letters, digits or '-', starting with a letter.`);
  }
  return prefix;
}

// ---------------------------------------------------------------------------------------------
// Google half: JobServiceIdentity
// ---------------------------------------------------------------------------------------------

/**
 * Permissions of the job service's launcher role: what `instances.insert` from an instance
 * template, `instances.get` and `instances.delete` of a job VM need, instead of ManaTEE's
 * project-wide `roles/compute.instanceAdmin.v1`. The grant's IAM condition limits the instance
 * and disk permissions to VMs named `<instancePrefix>-…` in the room's zone and template use to
 * the room's templates.
 *
 * Left out on purpose: `compute.subnetworks.useExternalIp` and `compute.addresses.use` (job VMs
 * get no external IP: even a request that adds an access config is refused),
 * `compute.images.useReadOnly` (the boot image is in the public `confidential-space-images`
 * project), `compute.instances.setMachineResources`/`setScheduling`/`attachDisk` and every
 * `setIamPolicy` (the template decides; the job service changes nothing after launch).
 */
export const TEE_LAUNCHER_PERMISSIONS: readonly string[] = [
  "compute.instances.create",
  "compute.instances.get",
  "compute.instances.delete",
  // tee-image-reference, tee-signed-image-repos and the allowed tee-env-* keys
  "compute.instances.setMetadata",
  // the template's TEE service account (actAs is granted on that one account only)
  "compute.instances.setServiceAccount",
  // the template's network tag "tee-instance" and labels (plus the job's labels)
  "compute.instances.setTags",
  "compute.instances.setLabels",
  // the boot disk (named after the VM) from the Confidential Space image family, with the template's labels
  "compute.disks.create",
  "compute.disks.setLabels",
  "compute.instanceTemplates.useReadOnly",
  // the launcher reads the template first: metadata and labels in an insert request replace the template's
  "compute.instanceTemplates.get",
  "compute.subnetworks.use",
  // waits for the insert and delete operations
  "compute.zoneOperations.get",
];

/** The custom role id for a room: `[a-zA-Z0-9_.]{3,64}`, deterministic, unique per room. */
export function teeLauncherRoleId(roomName: string): string {
  return `manatee_tee_launcher_${manateeEnv(roomName).replace(/-/g, "_")}`;
}

/** Where job VMs come from: the IAM condition of the launcher role is built from it. */
export interface JobLaunchScope {
  /** Zone the job VMs are created in. */
  readonly zone: string;
  /** VM names are `<instancePrefix>-<uuid>`. @default jobInstancePrefix(roomName) */
  readonly instancePrefix?: string;
  /** The room's templates are named `<templateNamePrefix>…` (`ConfidentialSpaceWorkload.templateNamePrefix`). */
  readonly templateNamePrefix: string;
}

/**
 * The launcher grant's condition: instance and disk permissions only on `<prefix>-…` in the
 * zone, template use only on the room's templates. Compute Engine checks `compute.subnetworks.use`
 * and `compute.zoneOperations.get` on other resource types, which the last clause lets through
 * (this role holds no other permission).
 */
export function launcherCondition(project: string, scope: Required<JobLaunchScope>): IamCondition {
  const zonal = `projects/${project}/zones/${scope.zone}`;
  return {
    title: `launch-${scope.instancePrefix}`.slice(0, 100),
    description: "Job VMs of the clean room only: instances and disks named <prefix>-<uuid>, the room's templates",
    expression:
      `(resource.type == "compute.googleapis.com/Instance" && resource.name.startsWith("${zonal}/instances/${scope.instancePrefix}-")) || ` +
      `(resource.type == "compute.googleapis.com/Disk" && resource.name.startsWith("${zonal}/disks/${scope.instancePrefix}-")) || ` +
      `(resource.type == "compute.googleapis.com/InstanceTemplate" && resource.name.startsWith("projects/${project}/global/instanceTemplates/${scope.templateNamePrefix}")) || ` +
      `(resource.type != "compute.googleapis.com/Instance" && resource.type != "compute.googleapis.com/Disk" && resource.type != "compute.googleapis.com/InstanceTemplate")`,
  };
}

/** A service account resource (`google_service_account`); its `name` must be a reference. */
export interface ServiceAccountRef {
  /** `projects/P/serviceAccounts/EMAIL` (the resource's `name` attribute). */
  readonly name: string;
}

/** The job-state database: `JobStateStore` fits. */
export interface JobStateStoreRef {
  grantUser(member: string, options?: { id?: string; dependsOn?: ITerraformDependable[] }): ProjectIamMember;
}

export interface JobServiceIdentityProps {
  /** Clean room name. */
  readonly roomName: string;
  readonly project: string;
  /** Region of the job build logs bucket (in the residency set). */
  readonly region: string;
  /** Regions every data location must lie in. @default [region] */
  readonly residency?: readonly string[];
  /**
   * Kubernetes namespace of the job service and JupyterHub; the Workload Identity bindings name it.
   * @default "manatee"
   */
  readonly namespace?: string;
  /** Where job VMs are launched from (the launcher role's condition). */
  readonly launch: JobLaunchScope;
  /**
   * The TEE service account (`ConfidentialSpaceWorkload.serviceAccount`): the job service may act
   * as it (attach it to job VMs), and as nothing else but the builder. A resource, not a literal,
   * so the grant waits for the account.
   */
  readonly teeServiceAccount: ServiceAccountRef;
  /**
   * The job service's workspace bucket (workspace tarballs, review records, build sources):
   * the job service reads and writes it, the builder reads it. Pass the bucket resource's `name`
   * to order the grants after the bucket.
   */
  readonly workspaceBucket: string;
  /** Job images: the builder pushes, the job service reads. */
  readonly userImages: ImageRepositoryRef;
  /** Executor bases jobs are built FROM: the builder reads. */
  readonly executorBases: ImageRepositoryRef;
  /** The job records (`JobStateStore`): the job service reads and writes them. @default - no grant (grant it yourself) */
  readonly stateStore?: JobStateStoreRef;
  /**
   * CMEK of the job build logs bucket (the room's `StorageEncryptionKey`).
   * @default - Google-managed encryption
   */
  readonly encryptionKey?: BucketEncryptionKey;
  /** Days job build logs are kept. @default 30 */
  readonly buildLogRetentionDays?: number;
  /** Stage-1 buckets JupyterLab may read (or use `grantStage1Read`). @default [] */
  readonly stage1Buckets?: readonly string[];
  /** Permissions added to the launcher role. @default [] */
  readonly extraLauncherPermissions?: readonly string[];
  /** @default the default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * The Google identities of the job path, least privilege, build ≠ launch:
 *
 * | identity | may | grant |
 * |---|---|---|
 * | job service | launch job VMs from the room's template | custom launcher role, conditioned on VM name prefix, zone and template prefix |
 * | job service | attach the TEE account / run builds as the builder | `roles/iam.serviceAccountUser` on those two accounts only |
 * | job service | create and watch builds | `roles/cloudbuild.builds.editor` (project: Cloud Build has no per-build IAM) |
 * | job service | job records | `roles/datastore.user`, conditioned on the job-state database |
 * | job service | workspace tarballs, review records | `roles/storage.objectUser` on the workspace bucket |
 * | job service | read built images | `roles/artifactregistry.reader` on user-images |
 * | job service | time-limited download URLs | `roles/iam.serviceAccountTokenCreator` on itself (signBlob) |
 * | builder | read the workspace, read bases, push job images, write build logs | bucket / repository grants only; no compute, no actAs |
 * | JupyterLab | read stage-1 data | granted by the data plane |
 *
 * Signature repositories are read-only for the job service (granted by the data plane); it holds
 * no approver-key permission. ManaTEE's `roles/iam.workloadIdentityPoolAdmin` is never granted.
 */
export class JobServiceIdentity extends Construct {
  public readonly namespace: string;
  /** Google SA of the job service pod (Workload Identity). */
  public readonly jobServiceAccount: ServiceAccount;
  /** Google SA job builds run as (Cloud Build `serviceAccount`). */
  public readonly builderServiceAccount: ServiceAccount;
  /** Google SA of the JupyterLab single-user pods. */
  public readonly jupyterServiceAccount: ServiceAccount;
  /** Known at synth time, so the workloads stack can use them without cross-stack references. */
  public readonly jobServiceAccountEmail: string;
  public readonly builderServiceAccountEmail: string;
  public readonly jupyterServiceAccountEmail: string;
  /** `serviceAccount:<email>` (resource attributes: grants made with them wait for the account). */
  public readonly jobServiceMember: string;
  public readonly builderMember: string;
  public readonly jupyterMember: string;
  /** `<project>.svc.id.goog[<namespace>/<ksa>]` identities bound to the two pod accounts. */
  public readonly jobServiceKubernetesMember: string;
  public readonly jupyterKubernetesMember: string;
  /** Job build logs (Cloud Build with a user-managed account must log to a user bucket or Logging). */
  public readonly buildLogsBucket: CleanRoomBucket;
  public readonly teeLauncherRole: ProjectIamCustomRole;
  /** `<prefix>-<uuid>` */
  public readonly instancePrefix: string;
  public readonly projectGrants: readonly ProjectIamMember[];
  public readonly workloadIdentityBindings: readonly ServiceAccountIamMember[];
  private readonly provider?: TerraformProvider;
  private readonly project: string;
  private readonly stage1Grants = new Map<string, StorageBucketIamMember>();

  constructor(scope: Construct, id: string, props: JobServiceIdentityProps) {
    super(scope, id);
    const { roomName, project, provider } = props;
    this.provider = provider;
    this.project = project;
    const contract = manateeContract(roomName, project);
    const names = platformNames({ name: roomName, project });
    this.namespace = props.namespace ?? DEFAULT_JOB_SERVICE_NAMESPACE;
    requireKubernetesName(this.namespace, `JobServiceIdentity "namespace"`);
    this.instancePrefix = props.launch.instancePrefix ?? jobInstancePrefix(roomName);
    if (!Token.isUnresolved(this.instancePrefix) && !INSTANCE_PREFIX.test(this.instancePrefix)) {
      throw new Error(
        `JobServiceIdentity "launch.instancePrefix" "${this.instancePrefix}" must be 1-26 lowercase letters, digits or '-', ` +
          `starting with a letter: job VMs are named <prefix>-<uuid> within GCE's 63 characters.`,
      );
    }
    if (!Token.isUnresolved(props.teeServiceAccount.name)) {
      throw new Error(
        `JobServiceIdentity "teeServiceAccount" is the literal "${props.teeServiceAccount.name}". Pass the service account ` +
          `resource (ConfidentialSpaceWorkload.serviceAccount) so the actAs grant names it by reference and waits for it.`,
      );
    }
    const extra = props.extraLauncherPermissions ?? [];
    for (const p of extra) {
      if (!Token.isUnresolved(p) && !/^[a-z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+){2}$/.test(p)) {
        throw new Error(
          `JobServiceIdentity "extraLauncherPermissions" entry "${p}" is not an IAM permission (service.resource.verb, e.g. "compute.instances.stop").`,
        );
      }
      if (/useExternalIp|addresses\.use|setIamPolicy/.test(p)) {
        throw new Error(
          `JobServiceIdentity "extraLauncherPermissions" entry "${p}" would let the job service give a job VM an external ` +
            `address or change IAM. Job VMs reach Google APIs through Cloud NAT and Private Google Access; remove it.`,
        );
      }
    }

    this.jobServiceAccount = new ServiceAccount(this, "JobServiceAccount", {
      project,
      accountId: names.jobServiceSaId,
      displayName: `Job service (${roomName})`.slice(0, NAME_RULES.serviceAccountDisplayName.max),
      description: "The clean room's job service (Workload Identity): launches job VMs from the room's template, starts builds as the builder.",
      provider,
    });
    const builderId = resourceName("serviceAccountId", "dcr", contract.env, "build");
    this.builderServiceAccount = new ServiceAccount(this, "BuilderServiceAccount", {
      project,
      accountId: builderId,
      displayName: `Job builds (${roomName})`.slice(0, NAME_RULES.serviceAccountDisplayName.max),
      description: "Cloud Build identity of job images: reads workspaces and executor bases, pushes job images. No compute, no actAs.",
      provider,
    });
    this.jupyterServiceAccount = new ServiceAccount(this, "JupyterServiceAccount", {
      project,
      accountId: names.jupyterSaId,
      displayName: `JupyterLab (${roomName})`.slice(0, NAME_RULES.serviceAccountDisplayName.max),
      description: "JupyterLab single-user pods of the clean room: stage-1 data only (Workload Identity).",
      provider,
    });
    this.jobServiceAccountEmail = names.jobServiceSaEmail;
    this.builderServiceAccountEmail = `${builderId}@${project}.iam.gserviceaccount.com`;
    this.jupyterServiceAccountEmail = names.jupyterSaEmail;
    this.jobServiceMember = this.jobServiceAccount.member;
    this.builderMember = this.builderServiceAccount.member;
    this.jupyterMember = this.jupyterServiceAccount.member;

    // ---- job service
    this.teeLauncherRole = new ProjectIamCustomRole(this, "TeeLauncherRole", {
      project,
      roleId: teeLauncherRoleId(roomName),
      title: `Job VM launcher (${roomName})`.slice(0, 100),
      description: "Create, watch and delete the clean room's job VMs from its instance template. No external IP. Replaces roles/compute.instanceAdmin.v1.",
      permissions: [...new Set([...TEE_LAUNCHER_PERMISSIONS, ...extra])].sort(),
      stage: "GA",
      provider,
    });
    const condition = launcherCondition(project, {
      zone: props.launch.zone,
      instancePrefix: this.instancePrefix,
      templateNamePrefix: props.launch.templateNamePrefix,
    });
    const projectGrant = (grantId: string, role: string, member: string, cond?: IamCondition) =>
      new ProjectIamMember(this, grantId, { project, role, member, condition: conditionBlock(cond), provider });
    const grants = [
      projectGrant("TeeLauncher", this.teeLauncherRole.name, this.jobServiceMember, condition),
      // Create, get and cancel builds. Cloud Build has no per-build IAM; the builds run as the builder.
      projectGrant("BuildsEditor", "roles/cloudbuild.builds.editor", this.jobServiceMember),
    ];
    if (props.stateStore) grants.push(props.stateStore.grantUser(this.jobServiceMember, { id: "job-service" }));
    this.projectGrants = grants;

    // actAs on exactly two accounts: the TEE account (attached to job VMs) and the builder (builds run as it).
    new ServiceAccountIamMember(this, "ActAsTeeServiceAccount", {
      serviceAccountId: props.teeServiceAccount.name,
      role: "roles/iam.serviceAccountUser",
      member: this.jobServiceMember,
      provider,
    });
    new ServiceAccountIamMember(this, "ActAsBuilder", {
      serviceAccountId: this.builderServiceAccount.name,
      role: "roles/iam.serviceAccountUser",
      member: this.jobServiceMember,
      provider,
    });
    // Download URLs of released outputs are V4 signed URLs, signed by IAM signBlob as the account itself.
    new ServiceAccountIamMember(this, "SignBlobAsItself", {
      serviceAccountId: this.jobServiceAccount.name,
      role: "roles/iam.serviceAccountTokenCreator",
      member: this.jobServiceMember,
      provider,
    });
    const bucketGrant = (grantId: string, bucket: string, role: string, member: string) =>
      new StorageBucketIamMember(this, grantId, { bucket, role, member, provider });
    // objectUser = objectAdmin without object ACL/IAM, which uniform bucket-level access ignores anyway.
    bucketGrant("WorkspaceObjects", props.workspaceBucket, "roles/storage.objectUser", this.jobServiceMember);
    const repoGrant = (grantId: string, repo: ImageRepositoryRef, role: string, member: string) =>
      new ArtifactRegistryRepositoryIamMember(this, grantId, {
        project: repo.project ?? this.project,
        location: repo.location,
        // By reference when the ref carries the managed repository (an ImageRegistry repository does).
        repository: repo.repository?.name ?? repo.repositoryId,
        role,
        member,
        provider,
      });
    repoGrant("UserImagesReader", props.userImages, "roles/artifactregistry.reader", this.jobServiceMember);

    // ---- builder
    this.buildLogsBucket = new CleanRoomBucket(this, "BuildLogs", {
      room: { name: roomName, project, region: props.region, residency: props.residency ?? [props.region] },
      // A support bucket of the job path, hardened like the hub bucket; no retention policy (Cloud
      // Build cannot write logs into a bucket with one), logs expire.
      purpose: "hub",
      bucketName: resourceName("bucket", project, roomName, "job-builds"),
      encryptionKey: props.encryptionKey,
      expireAfterDays: props.buildLogRetentionDays ?? 30,
      labels: { use: "job-build-logs" },
      provider,
    });
    bucketGrant("BuilderWorkspaceRead", props.workspaceBucket, "roles/storage.objectViewer", this.builderMember);
    // Cloud Build rewrites a build's log object while it streams: objectUser, on this bucket only.
    bucketGrant("BuilderLogs", this.buildLogsBucket.bucket.name, "roles/storage.objectUser", this.builderMember);
    repoGrant("BuilderPushJobImages", props.userImages, "roles/artifactregistry.writer", this.builderMember);
    repoGrant("BuilderReadBases", props.executorBases, "roles/artifactregistry.reader", this.builderMember);

    // ---- Workload Identity
    this.jobServiceKubernetesMember = workloadIdentityMember(project, this.namespace, contract.jobServiceKsa);
    this.jupyterKubernetesMember = workloadIdentityMember(project, this.namespace, contract.jupyterKsa);
    this.workloadIdentityBindings = [
      new ServiceAccountIamMember(this, "JobServiceWorkloadIdentity", {
        serviceAccountId: this.jobServiceAccount.name,
        role: "roles/iam.workloadIdentityUser",
        member: this.jobServiceKubernetesMember,
        provider,
      }),
      new ServiceAccountIamMember(this, "JupyterWorkloadIdentity", {
        serviceAccountId: this.jupyterServiceAccount.name,
        role: "roles/iam.workloadIdentityUser",
        member: this.jupyterKubernetesMember,
        provider,
      }),
    ];

    for (const bucket of props.stage1Buckets ?? []) this.grantStage1Read(bucket);
  }

  /**
   * Let JupyterLab read a stage-1 bucket (`roles/storage.objectViewer` on that bucket). Returns
   * the existing grant when the bucket was already granted.
   *
   * @param id construct id of the grant; required when `bucket` is a token.
   */
  public grantStage1Read(bucket: string, id?: string): StorageBucketIamMember {
    if (!id && Token.isUnresolved(bucket)) {
      throw new Error(
        `JobServiceIdentity.grantStage1Read: the bucket is a token; pass an explicit construct id (e.g. "Stage1-<dataset>").`,
      );
    }
    const grantId = id ?? `Stage1Viewer-${bucket}`;
    const existing = this.stage1Grants.get(grantId);
    if (existing) return existing;
    const grant = new StorageBucketIamMember(this, grantId, {
      bucket,
      role: "roles/storage.objectViewer",
      member: this.jupyterMember,
      provider: this.provider,
    });
    this.stage1Grants.set(grantId, grant);
    return grant;
  }
}

/** `serviceAccount:<project>.svc.id.goog[<namespace>/<ksa>]`: one Kubernetes SA, nothing wider. */
export function workloadIdentityMember(project: string, namespace: string, ksa: string): string {
  return `serviceAccount:${project}.svc.id.goog[${namespace}/${ksa}]`;
}

function requireKubernetesName(value: string | undefined, field: string): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  const rule = NAME_RULES.kubernetesName;
  if (value.length > rule.max || !rule.pattern.test(value)) {
    throw new Error(`${field} "${value}" is not a valid Kubernetes name (${rule.source}).`);
  }
}

// ---------------------------------------------------------------------------------------------
// The configuration: compileJobServiceConfig plus the deployed resources
// ---------------------------------------------------------------------------------------------

/** Deployed resources the configuration names; any may be a Terraform reference. */
export interface JobServiceConfigResources {
  /** `projects/P/global/instanceTemplates/NAME` (`ConfidentialSpaceWorkload.instanceTemplateId`). */
  readonly instanceTemplate: string;
  /** Name prefix of the room's templates: the placeholder while `instanceTemplate` is a reference. */
  readonly templateNamePrefix: string;
  /** `<location>-docker.pkg.dev/<project>/<repo>` of job images. */
  readonly userImagesRepository: string;
  /** The verifier's https URL. */
  readonly verifierUrl: string;
  readonly quarantineBucket: string;
  readonly releaseBucket: string;
  /**
   * Pull reference (`repo@sha256:…`) of the deploy-built executor base: the default base of job
   * builds when the policy names none (`jobs.executorBase`). It is approved only once its
   * digest is in the policy's `jobs.executorBases`.
   * @default - the policy's `jobs.executorBase`
   */
  readonly executorBase?: string;
  /** @default jobInstancePrefix(policy.name) */
  readonly instancePrefix?: string;
}

/**
 * The job service's `JobServiceConfig`: `compileJobServiceConfig(policy, …)` (lib/policy), with
 * the deployed resources put in. The compiler checks literal names; references (known only at
 * apply) are checked with a literal of the same shape and then put in place.
 */
export function jobServiceConfigFor(policy: CleanRoomPolicy, resources: JobServiceConfigResources): JobServiceConfig {
  const literal = (value: string, placeholder: string) => (Token.isUnresolved(value) ? placeholder : value);
  const compiled = compileJobServiceConfig(policy, {
    instanceTemplate: literal(resources.instanceTemplate, `projects/${policy.project}/global/instanceTemplates/${resources.templateNamePrefix}x`),
    instancePrefix: resources.instancePrefix,
    userImagesRepository: literal(resources.userImagesRepository, `${policy.region}-docker.pkg.dev/${policy.project}/placeholder`),
    verifierUrl: literal(resources.verifierUrl, "https://verifier.invalid"),
    quarantineBucket: literal(resources.quarantineBucket, "placeholder-quarantine"),
    releaseBucket: literal(resources.releaseBucket, "placeholder-release"),
  });
  const defaultBase = compiled.images.defaultExecutorBase ?? resources.executorBase;
  return {
    ...compiled,
    launch: { ...compiled.launch, instanceTemplate: resources.instanceTemplate },
    images: {
      ...compiled.images,
      userImagesRepository: resources.userImagesRepository,
      ...(defaultBase !== undefined ? { defaultExecutorBase: defaultBase } : {}),
    },
    verifier: { ...compiled.verifier, url: resources.verifierUrl },
    outputs: { quarantineBucket: resources.quarantineBucket, releaseBucket: resources.releaseBucket },
  };
}

// ---------------------------------------------------------------------------------------------
// Kubernetes half: JobService
// ---------------------------------------------------------------------------------------------

/** Container resources (Kubernetes quantities). */
export interface ContainerResources {
  readonly requests?: { readonly cpu?: string; readonly memory?: string };
  readonly limits?: { readonly cpu?: string; readonly memory?: string };
}

export interface JobServiceAccounts {
  /** Google SA e-mail of the job service (`JobServiceIdentity.jobServiceAccountEmail`). */
  readonly jobService: string;
  /** Google SA e-mail of JupyterLab (`JobServiceIdentity.jupyterServiceAccountEmail`). */
  readonly jupyter: string;
}

/** The deployment's Google resources the job service's adapters use (outside `JobServiceConfig`). */
export interface JobServiceGoogleResources {
  /** Firestore database id of the job records (`JobStateStore.databaseId`). */
  readonly firestoreDatabase: string;
  /** Workspace tarballs and review records (the hub bucket). */
  readonly workspaceBucket: string;
  /** E-mail of the account job builds run as (`JobServiceIdentity.builderServiceAccountEmail`). */
  readonly builderServiceAccount: string;
  /** Bucket of job build logs (`JobServiceIdentity.buildLogsBucket`). */
  readonly buildLogsBucket: string;
}

export interface JobServiceApiAccess {
  /** Namespace of the JupyterLab pods allowed to call the job service. @default the job service namespace */
  readonly clientNamespace?: string;
  /** Labels of the pods allowed to call it. @default JUPYTERHUB_SINGLEUSER_POD_LABELS */
  readonly clientPodLabels?: Readonly<Record<string, string>>;
}

export interface JobServiceProps {
  /** Clean room name (labels). */
  readonly roomName: string;
  readonly project: string;
  /** @default "manatee" */
  readonly namespace?: string;
  /** Create the namespace (with Pod Security Admission labels). @default true */
  readonly createNamespace?: boolean;
  readonly serviceAccounts: JobServiceAccounts;
  /**
   * The job service image, pinned by an immutable tag or a digest (the deploy-built
   * `ContainerImageBuild.imageReference`).
   */
  readonly image: string;
  /** The compiled configuration (`jobServiceConfigFor`); strings may be Terraform references. */
  readonly config: JobServiceConfig;
  readonly google: JobServiceGoogleResources;
  /** JupyterHub's API, where researchers' tokens are verified. @default DEFAULT_HUB_API_URL */
  readonly hubApiUrl?: string;
  /** Step images of job builds, pinned by digest (`CleanRoomWorkloads` passes its deploy-mirrored copies). */
  readonly buildStepImages: BuildStepImages;
  /** @default requests 100m CPU / 384Mi, limit 1Gi memory (a workspace upload is at most limits.maxWorkspaceBytes) */
  readonly resources?: ContainerResources;
  /** Size of the pod's `/tmp` (uploads spool there). @default "1Gi" */
  readonly tmpSize?: string;
  /** Who may call the job service. @default JupyterLab single-user pods of the same namespace */
  readonly apiAccess?: JobServiceApiAccess;
  /** Resources to create first (e.g. the Workload Identity bindings). @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default the default Kubernetes provider */
  readonly provider?: TerraformProvider;
}

/** `node` in the official Node images: the Dockerfile's USER. */
const NODE_UID = "1000";
const KUBE_DNS_PORT = "53";
/** GKE Dataplane V2 serves the metadata server (Workload Identity) here. */
const GKE_METADATA_SERVER = { cidr: "169.254.169.252/32", port: "988" };
const METADATA_SERVER = { cidr: "169.254.169.254/32", port: "80" };
const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"];

const DEFAULT_RESOURCES: ContainerResources = { requests: { cpu: "100m", memory: "384Mi" }, limits: { memory: "1Gi" } };

/**
 * The job service on GKE, hardened:
 * - namespace enforcing Pod Security `baseline` (JupyterHub's chart pods share it) and
 *   warning/auditing `restricted`, which the job service itself meets;
 * - Kubernetes SAs bound to the Google SAs through Workload Identity, no API token mounted;
 * - ConfigMap holding the `JobServiceConfig` JSON; the pod template carries its SHA-256, so a
 *   changed configuration (a new instance template, say) rolls the pod;
 * - one replica with the `Recreate` strategy (the launch loop runs once, never twice during a
 *   rollout), non-root, read-only root file system, no capabilities, RuntimeDefault seccomp,
 *   requests and limits, liveness and readiness on `/health`;
 * - the `manatee` Service (port 80 → 8080) the JupyterLab extension calls;
 * - the pod label z2jh's hub NetworkPolicy admits, so the job service can verify tokens at the hub;
 * - NetworkPolicies: only single-user pods may call it; it may reach only DNS, the metadata
 *   server, the hub's API and public addresses on 443 (Google APIs), never other private addresses.
 */
export class JobService extends Construct {
  public readonly namespace: string;
  /** Undefined when `createNamespace` is false. */
  public readonly namespaceResource?: NamespaceV1;
  public readonly jobServiceKsa: ServiceAccountV1;
  public readonly jupyterKsa: ServiceAccountV1;
  public readonly config: ConfigMapV1;
  /** The configuration JSON as delivered (strings may hold Terraform references). */
  public readonly configJson: string;
  public readonly deployment: DeploymentV1;
  public readonly service: ServiceV1;
  public readonly ingressPolicy: NetworkPolicyV1;
  public readonly egressPolicy: NetworkPolicyV1;
  /** `http://manatee.<namespace>.svc.cluster.local` */
  public readonly apiUrl: string;
  public readonly image: string;

  constructor(scope: Construct, id: string, props: JobServiceProps) {
    super(scope, id);
    const { roomName, project, provider } = props;
    const contract = manateeContract(roomName, project);
    validateJobServiceProps(props);

    const namespaceName = props.namespace ?? DEFAULT_JOB_SERVICE_NAMESPACE;
    this.apiUrl = jobServiceApiUrl(namespaceName);
    this.image = props.image;
    const commonLabels = {
      "app.kubernetes.io/instance": roomName,
      "app.kubernetes.io/part-of": "manatee",
      "app.kubernetes.io/managed-by": "manatee-cdktf",
    };

    if (props.createNamespace ?? true) {
      this.namespaceResource = new NamespaceV1(this, "Namespace", {
        metadata: {
          name: namespaceName,
          labels: {
            ...commonLabels,
            // baseline, not restricted: JupyterHub's chart pods live here too.
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": "latest",
          },
        },
        dependsOn: props.dependsOn,
        provider,
      });
    }
    // Referencing the namespace resource orders everything after it.
    this.namespace = this.namespaceResource ? this.namespaceResource.metadata.name : namespaceName;
    const dependsOn = this.namespaceResource ? undefined : props.dependsOn;
    const meta = (name: string, labels: Record<string, string> = {}) => ({
      name,
      namespace: this.namespace,
      labels: { ...commonLabels, ...labels },
    });

    this.jobServiceKsa = new ServiceAccountV1(this, "JobServiceKsa", {
      metadata: { ...meta(contract.jobServiceKsa), annotations: { "iam.gke.io/gcp-service-account": props.serviceAccounts.jobService } },
      automountServiceAccountToken: false,
      dependsOn,
      provider,
    });
    this.jupyterKsa = new ServiceAccountV1(this, "JupyterKsa", {
      metadata: { ...meta(contract.jupyterKsa), annotations: { "iam.gke.io/gcp-service-account": props.serviceAccounts.jupyter } },
      automountServiceAccountToken: false,
      dependsOn,
      provider,
    });

    // Deterministic text: the ConfigMap changes only when the configuration does.
    // Literal `${`/`%{` would be Terraform template syntax: escaped, while references (cdktf's
    // `${TfToken[…]}` placeholders, resolved at synth) stay live.
    const literal = (_key: string, v: unknown) =>
      typeof v === "string" ? v.replace(/\$\{(?!TfToken\[)/g, () => "$${").replace(/%\{/g, () => "%%{") : v;
    this.configJson = `${JSON.stringify(props.config, literal, 2)}\n`;
    this.config = new ConfigMapV1(this, "Config", {
      metadata: meta("manatee-job-service-config"),
      data: { [JOB_SERVICE_CONFIG_FILE]: this.configJson },
      dependsOn,
      provider,
    });

    const labels = { ...JOB_SERVICE_API_SELECTOR, "app.kubernetes.io/instance": roomName };
    const env = JOB_SERVICE_ENV;
    const resources = k8sResources(props.resources ?? DEFAULT_RESOURCES);
    const stepImages = props.buildStepImages;
    this.deployment = new DeploymentV1(this, "Deployment", {
      metadata: meta("manatee-job-service", labels),
      spec: {
        replicas: "1",
        // Never two launch loops at once, not even during a rollout.
        strategy: { type: "Recreate" },
        revisionHistoryLimit: 5,
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels: { ...commonLabels, ...labels, ...JUPYTERHUB_HUB_ACCESS_LABELS },
            // Resolved at apply: a new template self link or digest changes the hash and rolls the pod.
            annotations: { "manatee.dev/config-sha256": Fn.sha256(Fn.lookup(this.config.data, JOB_SERVICE_CONFIG_FILE, "")) },
          },
          spec: {
            serviceAccountName: this.jobServiceKsa.metadata.name,
            // Google credentials come from Workload Identity; the job service never calls the Kubernetes API.
            automountServiceAccountToken: false,
            // No service discovery through environment variables: the service reads only its own.
            enableServiceLinks: false,
            nodeSelector: { ...GKE_METADATA_NODE_SELECTOR },
            terminationGracePeriodSeconds: 30,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: NODE_UID,
              runAsGroup: NODE_UID,
              seccompProfile: { type: "RuntimeDefault" },
            },
            container: [
              {
                name: "job-service",
                image: props.image,
                port: [{ name: "http", containerPort: JOB_SERVICE_PORT, protocol: "TCP" }],
                env: [
                  { name: env.configFile, value: `${JOB_SERVICE_CONFIG_DIR}/${JOB_SERVICE_CONFIG_FILE}` },
                  { name: env.port, value: String(JOB_SERVICE_PORT) },
                  { name: env.hubApiUrl, value: props.hubApiUrl ?? DEFAULT_HUB_API_URL },
                  { name: env.project, value: project },
                  { name: env.firestoreDatabase, value: props.google.firestoreDatabase },
                  { name: env.workspaceBucket, value: props.google.workspaceBucket },
                  { name: env.builderServiceAccount, value: props.google.builderServiceAccount },
                  { name: env.buildLogsBucket, value: props.google.buildLogsBucket },
                  { name: env.buildStepGcloud, value: stepImages.gcloud },
                  { name: env.buildStepCrane, value: stepImages.crane },
                  { name: "NODE_ENV", value: "production" },
                ],
                livenessProbe: {
                  httpGet: { path: JOB_SERVICE_HEALTH_PATH, port: "http" },
                  initialDelaySeconds: 10,
                  periodSeconds: 20,
                  timeoutSeconds: 5,
                  failureThreshold: 3,
                },
                readinessProbe: {
                  httpGet: { path: JOB_SERVICE_HEALTH_PATH, port: "http" },
                  periodSeconds: 10,
                  timeoutSeconds: 5,
                  failureThreshold: 3,
                },
                resources,
                securityContext: {
                  runAsNonRoot: true,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                },
                volumeMount: [
                  { name: "config", mountPath: JOB_SERVICE_CONFIG_DIR, readOnly: true },
                  { name: "tmp", mountPath: "/tmp" },
                ],
              },
            ],
            volume: [
              { name: "config", configMap: { name: this.config.metadata.name, defaultMode: "0444" } },
              { name: "tmp", emptyDir: { sizeLimit: props.tmpSize ?? "1Gi" } },
            ],
          },
        },
      },
      dependsOn,
      provider,
    });

    this.service = new ServiceV1(this, "Service", {
      metadata: meta(JOB_SERVICE_API_SERVICE, { "app.kubernetes.io/component": "job-service" }),
      spec: {
        type: "ClusterIP",
        selector: labels,
        port: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
      },
      dependsOn,
      provider,
    });

    const access = props.apiAccess ?? {};
    const clientNamespace = access.clientNamespace;
    this.ingressPolicy = new NetworkPolicyV1(this, "IngressPolicy", {
      metadata: meta("manatee-job-service-ingress"),
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                podSelector: { matchLabels: { ...(access.clientPodLabels ?? JUPYTERHUB_SINGLEUSER_POD_LABELS) } },
                ...(clientNamespace && clientNamespace !== namespaceName
                  ? { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": clientNamespace } } }
                  : {}),
              },
            ],
            ports: [{ port: String(JOB_SERVICE_PORT), protocol: "TCP" }],
          },
        ],
      },
      dependsOn,
      provider,
    });
    this.egressPolicy = new NetworkPolicyV1(this, "EgressPolicy", {
      metadata: meta("manatee-job-service-egress"),
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ["Egress"],
        egress: [
          // DNS (kube-dns, or NodeLocal DNSCache on a link-local address).
          { ports: [{ port: KUBE_DNS_PORT, protocol: "UDP" }, { port: KUBE_DNS_PORT, protocol: "TCP" }] },
          // Workload Identity: the GKE metadata server.
          { to: [{ ipBlock: { cidr: GKE_METADATA_SERVER.cidr } }], ports: [{ port: GKE_METADATA_SERVER.port, protocol: "TCP" }] },
          { to: [{ ipBlock: { cidr: METADATA_SERVER.cidr } }], ports: [{ port: METADATA_SERVER.port, protocol: "TCP" }] },
          // The hub's API: researchers' tokens are verified there.
          { to: [{ podSelector: { matchLabels: { component: "hub" } } }], ports: [{ port: "8081", protocol: "TCP" }] },
          // Google APIs and the verifier (public Google addresses or Private Google Access VIPs), never private addresses.
          { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: PRIVATE_RANGES } }], ports: [{ port: "443", protocol: "TCP" }] },
        ],
      },
      dependsOn,
      provider,
    });
  }
}

type KubernetesResources = { requests?: Record<string, string>; limits?: Record<string, string> };

function k8sResources(r: ContainerResources): KubernetesResources {
  const defined = (q?: { readonly cpu?: string; readonly memory?: string }) =>
    q ? Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined) as [string, string][]) : undefined;
  const requests = defined(r.requests);
  const limits = defined(r.limits);
  return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
}

function validateJobServiceProps(props: JobServiceProps): void {
  requireKubernetesName(props.namespace, `JobService "namespace"`);
  if (props.apiAccess?.clientNamespace !== undefined) {
    requireKubernetesName(props.apiAccess.clientNamespace, `JobService "apiAccess.clientNamespace"`);
  }
  const room = props.roomName;
  if (!Token.isUnresolved(room) && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(room)) {
    throw new Error(`JobService "roomName" "${room}" cannot label Kubernetes objects. Use lowercase letters, digits and '-' (at most 63).`);
  }
  for (const [key, email] of Object.entries(props.serviceAccounts)) {
    if (!Token.isUnresolved(email) && !/^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.:]+\.iam\.gserviceaccount\.com$/.test(email)) {
      throw new Error(
        `JobService "serviceAccounts.${key}" "${email}" is not a Google service account e-mail. ` +
          `Pass the e-mail from JobServiceIdentity (…@<project>.iam.gserviceaccount.com).`,
      );
    }
  }
  if (!Token.isUnresolved(props.image)) {
    const ref = parseImageReference(props.image, `JobService "image"`);
    if (ref.tag === "latest" && !ref.digest) {
      throw new Error(
        `JobService "image" "${props.image}" is tagged "latest", which moves. Use the deploy-built image ` +
          `(ContainerImageBuild.imageReference, an immutable content-hash tag) or a digest.`,
      );
    }
  }
  for (const [key, ref] of Object.entries(props.buildStepImages)) {
    if (!Token.isUnresolved(ref) && !parseImageReference(ref, `JobService "buildStepImages.${key}"`).digest) {
      throw new Error(`JobService "buildStepImages.${key}" "${ref}" is not pinned by digest. Use image@sha256:<digest>: job builds run it.`);
    }
  }
  const c = props.config;
  if (!c || c.version !== 1 || !c.launch || !c.images) {
    throw new Error(`JobService "config" is not a JobServiceConfig. Compile it with jobServiceConfigFor(policy, resources).`);
  }
  if (!Token.isUnresolved(c.launch.instanceTemplate) && !/^projects\/[^/]+\/(global|regions\/[^/]+)\/instanceTemplates\/[^/]+$/.test(c.launch.instanceTemplate)) {
    throw new Error(
      `JobService "config.launch.instanceTemplate" "${c.launch.instanceTemplate}" is not an instance template. ` +
        `Pass ConfidentialSpaceWorkload.instanceTemplateId: job VMs are only ever created from the room's template.`,
    );
  }
  for (const [key, value] of Object.entries(props.google)) {
    if (!Token.isUnresolved(value) && value.trim() === "") throw new Error(`JobService "google.${key}" is empty.`);
  }
  if (props.tmpSize !== undefined && !/^\d+(Ki|Mi|Gi)$/.test(props.tmpSize)) {
    throw new Error(`JobService "tmpSize" "${props.tmpSize}" is not a Kubernetes quantity such as "1Gi".`);
  }
}
