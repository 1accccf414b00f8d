/**
 * Google half of the job path (platform stack): `JobServiceIdentity`, the Google service accounts
 * of the job service, the job builder and JupyterLab, with every grant scoped to the one bucket,
 * repository, database, service account or VM name it is for. Build is not launch: the builder
 * (which runs the researcher's `pip install`) has no compute permission and cannot act as the TEE
 * account; the job service holds no approver key and cannot write a signature.
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { ProjectIamCustomRole } from "@cdktf/provider-google/lib/project-iam-custom-role";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { ServiceAccountIamMember } from "@cdktf/provider-google/lib/service-account-iam-member";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { CleanRoomIdentity, GrantOptions, conditionBlock, roomOf } from "../../../internal/common";
import { IamMemberGrants, grantOnProject } from "../../iam-grants";
import { ImageRepositoryRef } from "../../data-plane/confidential-space";
import { IamCondition } from "../../../policy/members";
import { NAME_RULES, manateeContract, platformNames, resourceName } from "../../../policy/names";
import { BucketEncryptionKey, CleanRoomBucket } from "../../data-plane/buckets";
import { DEFAULT_JOB_SERVICE_NAMESPACE } from "./contract";
import { JobLaunchScope, TEE_LAUNCHER_PERMISSIONS, launcherCondition, teeLauncherRoleId } from "./launcher-role";
import { INSTANCE_PREFIX, jobInstancePrefix, requireKubernetesName } from "./names";
import { InvalidPropsError } from "../../../errors";

/**
 * The owner of the TEE service account (`ConfidentialSpaceWorkload`): it makes the job service's
 * actAs binding in the account's one authoritative policy. JobServiceIdentity never writes IAM on
 * a resource it does not own.
 */
export interface ActAsGrantor {
  grantActAs(member: string, options?: GrantOptions): ITerraformDependable;
}

/** A bucket whose owner makes the grants on it (`CleanRoomBucket`). */
export interface BucketGrantor {
  /** `roles/storage.objectViewer` */
  grantRead(member: string, options?: GrantOptions): ITerraformDependable;
  /** `roles/storage.objectUser` */
  grantObjectUser(member: string, options?: GrantOptions): ITerraformDependable;
}

/** A repository whose owner makes the grants on it (`DockerRepository`). */
export interface RepositoryGrantor {
  grantPull(member: string, options?: GrantOptions): ITerraformDependable;
  grantPush(member: string, options?: GrantOptions): ITerraformDependable;
}

/** The job-state database: `JobStateStore` fits. */
export interface JobStateStoreRef {
  grantUser(member: string, options?: { id?: string; dependsOn?: ITerraformDependable[] }): ProjectIamMember;
}

export interface JobServiceIdentityProps {
  /**
   * The room: its name, project and region (the job build logs bucket's region, in the residency
   * set). A `CleanRoom`'s `room`, or the policy itself. Required unless the deprecated
   * `roomName` + `project` + `region` are given.
   * @default - the deprecated props
   */
  readonly room?: CleanRoomIdentity;
  /** @deprecated use `room`. @default - room.name */
  readonly roomName?: string;
  /** @deprecated use `room`. @default - room.project */
  readonly project?: string;
  /** @deprecated use `room`. @default - room.region */
  readonly region?: string;
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
   * The owner of the TEE service account (`ConfidentialSpaceWorkload`): the job service may act as
   * it (attach it to job VMs), and as nothing else but the builder. The owner grants it, in the
   * account's one authoritative policy.
   */
  readonly teeServiceAccount: ActAsGrantor;
  /**
   * The job service's workspace bucket (workspace tarballs, review records, build sources):
   * the job service reads and writes it, the builder reads it. A `CleanRoomBucket` makes the
   * grants itself (one binding per role and member); a name (pass the bucket resource's `name` to
   * order the grants after the bucket) gets additive grants made here.
   */
  readonly workspaceBucket: string | BucketGrantor;
  /** Job images: the builder pushes, the job service reads. A `DockerRepository` makes the grants itself. */
  readonly userImages: ImageRepositoryRef | RepositoryGrantor;
  /** Executor bases jobs are built FROM: the builder reads. A `DockerRepository` makes the grant itself. */
  readonly executorBases: ImageRepositoryRef | RepositoryGrantor;
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
  private readonly stage1Grants = new Map<string, StorageBucketIamMember>();

  constructor(scope: Construct, id: string, props: JobServiceIdentityProps) {
    super(scope, id);
    const room = roomOf(props, this.node.path);
    const { name: roomName, project } = room;
    const region = room.region;
    if (region === undefined) {
      throw new InvalidPropsError(`"room" has no region: the job build logs bucket needs one.`, { constructPath: this.node.path, property: "room.region", fix: "Pass the CleanRoom's room or the policy (both carry region)." });
    }
    const { provider } = props;
    this.provider = provider;
    const contract = manateeContract(roomName, project);
    const names = platformNames({ name: roomName, project });
    this.namespace = props.namespace ?? DEFAULT_JOB_SERVICE_NAMESPACE;
    requireKubernetesName(this.namespace, `JobServiceIdentity "namespace"`);
    this.instancePrefix = props.launch.instancePrefix ?? jobInstancePrefix(roomName);
    if (!Token.isUnresolved(this.instancePrefix) && !INSTANCE_PREFIX.test(this.instancePrefix)) {
      throw new InvalidPropsError(
        `JobServiceIdentity "launch.instancePrefix" "${this.instancePrefix}" must be 1-26 lowercase letters, digits or '-', ` +
          `starting with a letter: job VMs are named <prefix>-<uuid> within GCE's 63 characters.`,
      );
    }
    if (typeof (props.teeServiceAccount as Partial<ActAsGrantor>).grantActAs !== "function") {
      throw new InvalidPropsError(
        `JobServiceIdentity "teeServiceAccount" has no grantActAs. Pass the account's owner (ConfidentialSpaceWorkload): ` +
          `it holds the TEE service account's one IAM policy, and no other construct may grant on the account.`,
        { constructPath: this.node.path, property: "teeServiceAccount" },
      );
    }
    const extra = props.extraLauncherPermissions ?? [];
    for (const p of extra) {
      if (!Token.isUnresolved(p) && !/^[a-z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+){2}$/.test(p)) {
        throw new InvalidPropsError(
          `JobServiceIdentity "extraLauncherPermissions" entry "${p}" is not an IAM permission (service.resource.verb, e.g. "compute.instances.stop").`,
        );
      }
      if (/useExternalIp|addresses\.use|setIamPolicy/.test(p)) {
        throw new InvalidPropsError(
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
      grantOnProject(this, grantId, { project, role, member, condition: cond, provider });
    const grants = [
      projectGrant("TeeLauncher", this.teeLauncherRole.name, this.jobServiceMember, condition),
      // Create, get and cancel builds. Cloud Build has no per-build IAM; the builds run as the builder.
      projectGrant("BuildsEditor", "roles/cloudbuild.builds.editor", this.jobServiceMember),
    ];
    if (props.stateStore) grants.push(props.stateStore.grantUser(this.jobServiceMember, { id: "job-service" }));
    this.projectGrants = grants;

    // actAs on exactly two accounts: the TEE account (attached to job VMs; its owner grants it, in
    // the account's one policy) and the builder (builds run as it).
    props.teeServiceAccount.grantActAs(this.jobServiceMember, { id: "ActAsTeeServiceAccount" });
    const builderIam = this.ownServiceAccountGrants(this.builderServiceAccount);
    builderIam.grant("ActAsBuilder", { role: "roles/iam.serviceAccountUser", member: this.jobServiceMember, id: "ActAsBuilder" });
    // Download URLs of released outputs are V4 signed URLs, signed by IAM signBlob as the account itself.
    const jobServiceIam = this.ownServiceAccountGrants(this.jobServiceAccount);
    jobServiceIam.grant("SignBlobAsItself", { role: "roles/iam.serviceAccountTokenCreator", member: this.jobServiceMember, id: "SignBlobAsItself" });
    const workspace = grantorOf(this, props.workspaceBucket, provider);
    // objectUser = objectAdmin without object ACL/IAM, which uniform bucket-level access ignores anyway.
    workspace.grantObjectUser(this.jobServiceMember, { id: "WorkspaceObjects" });
    const userImages = repositoryGrantor(this, props.userImages, project, provider);
    const executorBases = repositoryGrantor(this, props.executorBases, project, provider);
    userImages.grantPull(this.jobServiceMember, { id: "UserImagesReader" });

    // ---- builder
    this.buildLogsBucket = new CleanRoomBucket(this, "BuildLogs", {
      room: { name: roomName, project, region, residency: props.residency ?? room.residency ?? [region] },
      // A support bucket of the job path, hardened like the hub bucket; no retention policy (Cloud
      // Build cannot write logs into a bucket with one), logs expire.
      purpose: "hub",
      bucketName: resourceName("bucket", project, roomName, "job-builds"),
      encryptionKey: props.encryptionKey,
      expireAfterDays: props.buildLogRetentionDays ?? 30,
      labels: { use: "job-build-logs" },
      provider,
    });
    workspace.grantRead(this.builderMember, { id: "BuilderWorkspaceRead" });
    // Cloud Build rewrites a build's log object while it streams: objectUser, on this bucket only.
    this.buildLogsBucket.grantObjectUser(this.builderMember, { id: "BuilderLogs" });
    userImages.grantPush(this.builderMember, { id: "BuilderPushJobImages" });
    executorBases.grantPull(this.builderMember, { id: "BuilderReadBases" });

    // ---- Workload Identity
    this.jobServiceKubernetesMember = workloadIdentityMember(project, this.namespace, contract.jobServiceKsa);
    this.jupyterKubernetesMember = workloadIdentityMember(project, this.namespace, contract.jupyterKsa);
    const wi = "roles/iam.workloadIdentityUser";
    this.workloadIdentityBindings = [
      jobServiceIam.grant("JobServiceWorkloadIdentity", { role: wi, member: this.jobServiceKubernetesMember, id: "JobServiceWorkloadIdentity" }),
      this.ownServiceAccountGrants(this.jupyterServiceAccount).grant("JupyterWorkloadIdentity", {
        role: wi,
        member: this.jupyterKubernetesMember,
        id: "JupyterWorkloadIdentity",
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
      throw new InvalidPropsError(
        `JobServiceIdentity.grantStage1Read: the bucket is a token; pass an explicit construct id (e.g. "Stage1-<dataset>").`,
      );
    }
    const grantId = id ?? `Stage1Viewer-${bucket}`;
    const existing = this.stage1Grants.get(grantId);
    if (existing) return existing;
    const grant = additiveBucketGrants(this, bucket, this.provider).grant("Stage1Viewer", {
      role: "roles/storage.objectViewer",
      member: this.jupyterMember,
      id: grantId,
    });
    this.stage1Grants.set(grantId, grant);
    return grant;
  }

  /** Additive grants on one of this construct's own service accounts. */
  private ownServiceAccountGrants(account: ServiceAccount): IamMemberGrants<ServiceAccountIamMember> {
    const name = account.name;
    return new IamMemberGrants(this, (scope, id, b) =>
      new ServiceAccountIamMember(scope, id, { serviceAccountId: name, role: b.role, member: b.member, provider: this.provider }),
    );
  }
}

/** Additive bucket grants made here, on a bucket known only by name (no owner construct to ask). */
function additiveBucketGrants(scope: Construct, bucket: string, provider?: TerraformProvider): IamMemberGrants<StorageBucketIamMember> {
  return new IamMemberGrants(scope, (s, id, b) =>
    new StorageBucketIamMember(s, id, { bucket, role: b.role, member: b.member, condition: conditionBlock(b.condition), provider }),
  );
}

function grantorOf(scope: Construct, bucket: string | BucketGrantor, provider?: TerraformProvider): BucketGrantor {
  if (typeof bucket !== "string") return bucket;
  const grants = additiveBucketGrants(scope, bucket, provider);
  const as = (prefix: string, role: string) => (member: string, options: GrantOptions = {}) => grants.grant(prefix, { role, member, id: options.id });
  return { grantRead: as("read", "roles/storage.objectViewer"), grantObjectUser: as("objects", "roles/storage.objectUser") };
}

function repositoryGrantor(
  scope: Construct,
  repo: ImageRepositoryRef | RepositoryGrantor,
  project: string,
  provider?: TerraformProvider,
): RepositoryGrantor {
  if ("grantPush" in repo && typeof repo.grantPush === "function") return repo as RepositoryGrantor;
  const ref = repo as ImageRepositoryRef;
  const grants = new IamMemberGrants(scope, (s, id, b) =>
    new ArtifactRegistryRepositoryIamMember(s, id, {
      project: ref.project ?? project,
      location: ref.location,
      // By reference when the ref carries the managed repository (an ImageRegistry repository does).
      repository: ref.repository?.name ?? ref.repositoryId,
      role: b.role,
      member: b.member,
      provider,
    }),
  );
  const as = (prefix: string, role: string) => (member: string, options: GrantOptions = {}) => grants.grant(prefix, { role, member, id: options.id });
  return { grantPull: as("pull", "roles/artifactregistry.reader"), grantPush: as("push", "roles/artifactregistry.writer") };
}

/** `serviceAccount:<project>.svc.id.goog[<namespace>/<ksa>]`: one Kubernetes SA, nothing wider. */
export function workloadIdentityMember(project: string, namespace: string, ksa: string): string {
  return `serviceAccount:${project}.svc.id.goog[${namespace}/${ksa}]`;
}
