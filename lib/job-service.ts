/**
 * The ManaTEE job service: the API that accepts notebooks from JupyterLab and the reconciler
 * that builds them with Kaniko and runs them in Confidential Space VMs.
 *
 * Two halves, one per stack (DESIGN.md §7):
 * - `JobServiceIdentity` (platform stack): the Google service accounts the pods run as, every
 *   grant scoped to the one bucket, repository, service account or instance it is for.
 * - `JobService` (workloads stack): namespace, Kubernetes service accounts bound to those
 *   Google accounts, RBAC, configuration and the two Deployments with the Cloud SQL proxy.
 *
 * Every name the ManaTEE images hard-code comes from `manateeContract()`.
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { ProjectIamCustomRole } from "@cdktf/provider-google/lib/project-iam-custom-role";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { ServiceAccountIamMember } from "@cdktf/provider-google/lib/service-account-iam-member";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1";
import {
  DeploymentV1,
  DeploymentV1SpecTemplateSpecContainer,
  DeploymentV1SpecTemplateSpecContainerEnv,
} from "@cdktf/provider-kubernetes/lib/deployment-v1";
import { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1";
import { NetworkPolicyV1 } from "@cdktf/provider-kubernetes/lib/network-policy-v1";
import { RoleBindingV1 } from "@cdktf/provider-kubernetes/lib/role-binding-v1";
import { RoleV1 } from "@cdktf/provider-kubernetes/lib/role-v1";
import { SecretV1 } from "@cdktf/provider-kubernetes/lib/secret-v1";
import { ServiceAccountV1 } from "@cdktf/provider-kubernetes/lib/service-account-v1";
import { ServiceV1 } from "@cdktf/provider-kubernetes/lib/service-v1";
import { conditionBlock } from "./common";
import { IamCondition } from "./policy/members";
import { CleanRoomPolicy } from "./policy/model";
import { NAME_RULES, manateeContract, manateeEnv, platformNames } from "./policy/names";

// ---------------------------------------------------------------------------------------------
// Shared contract between the job service and JupyterHub
// ---------------------------------------------------------------------------------------------

/** @default namespace of the job service and JupyterHub (ManaTEE deploys both into one). */
export const DEFAULT_JOB_SERVICE_NAMESPACE = "manatee";

/** Name of the ClusterIP Service in front of the API; JupyterHub reaches the API through it. */
export const JOB_SERVICE_API_SERVICE = "manatee";

/** Pod labels that select the API (and only the API): JupyterHub's egress policy uses them. */
export const JOB_SERVICE_API_SELECTOR: Readonly<Record<string, string>> = {
  "app.kubernetes.io/name": "manatee",
  "app.kubernetes.io/component": "api",
};

/** Pod labels of the reconciler: distinct from the API's, unlike ManaTEE's chart. */
export const JOB_SERVICE_RECONCILER_SELECTOR: Readonly<Record<string, string>> = {
  "app.kubernetes.io/name": "manatee",
  "app.kubernetes.io/component": "reconciler",
};

/** Label z2jh (KubeSpawner) puts on every JupyterLab single-user pod. */
export const JUPYTERHUB_SINGLEUSER_POD_LABELS: Readonly<Record<string, string>> = {
  component: "singleuser-server",
};

/** Only nodes running the GKE metadata server give pods their Workload Identity. */
export const GKE_METADATA_NODE_SELECTOR: Readonly<Record<string, string>> = {
  "iam.gke.io/gke-metadata-server-enabled": "true",
};

/** The in-cluster URL of the API (what the JupyterLab extension reads from `DATA_CLEAN_ROOM_HOST`). */
export function jobServiceApiUrl(namespace: string = DEFAULT_JOB_SERVICE_NAMESPACE): string {
  return `http://${JOB_SERVICE_API_SERVICE}.${namespace}.svc.cluster.local`;
}

/** Pinned Cloud SQL Auth Proxy v2 (distroless, runs as non-root 65532). */
export const DEFAULT_CLOUD_SQL_PROXY_IMAGE = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1";

/** A container image reference split the way Helm charts and registries want it. */
export interface ImageReference {
  /** Registry host and path, without tag or digest: `us-docker.pkg.dev/p/repo/image`. */
  readonly name: string;
  readonly tag?: string;
  /** `sha256:<64 hex>` */
  readonly digest?: string;
}

const IMAGE_REFERENCE =
  /^(?<name>(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/;

/**
 * Parse a full image reference (`registry.host/path/image[:tag][@sha256:…]`). Throws, naming
 * `field`, unless the reference names a registry host (a short name such as `manatee-api:latest`
 * would be pulled from Docker Hub) and pins a tag or a digest.
 */
export function parseImageReference(reference: string, field: string): ImageReference {
  const match = IMAGE_REFERENCE.exec(reference);
  if (!match?.groups || (!match.groups.tag && !match.groups.digest)) {
    throw new Error(
      `${field} "${reference}" is not a full image reference. Use registry-host/path/image:tag or ` +
        `registry-host/path/image@sha256:<digest>, e.g. "us-central1-docker.pkg.dev/my-project/my-repo/manatee-api@sha256:…" ` +
        `(a digest pins exactly the image that was reviewed).`,
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

/**
 * The MySQL user Cloud SQL IAM database authentication creates for a service account: the
 * part of its e-mail before `@` (MySQL user names cannot hold the whole address).
 */
export function mysqlIamUserName(serviceAccountEmail: string): string {
  return serviceAccountEmail.split("@")[0];
}

// ---------------------------------------------------------------------------------------------
// Google half: JobServiceIdentity
// ---------------------------------------------------------------------------------------------

/**
 * Permissions of the reconciler's custom role: exactly what `InstancesClient.Insert/Get/Delete`
 * of a Confidential Space VM needs (app/reconciler/tee_backend/confidential_space.go), instead
 * of ManaTEE's project-wide `roles/compute.instanceAdmin.v1`.
 *
 * Left out on purpose: `compute.images.useReadOnly` (the boot image comes from the public
 * `confidential-space-images` project, whose images every principal may use; a grant in this
 * project would not reach it anyway), `compute.instances.setLabels` and `compute.disks.setLabels`
 * (the reconciler sets no labels), `compute.disks.delete` (the boot disk is `autoDelete` and goes
 * with the instance). Add any of them with `extraLauncherPermissions` if your runtime needs them.
 */
export const TEE_LAUNCHER_PERMISSIONS: readonly string[] = [
  "compute.instances.create",
  "compute.instances.get",
  "compute.instances.delete",
  // metadata carries tee-image-reference, tee-env-* and the log-redirect flag
  "compute.instances.setMetadata",
  // attaches the TEE service account (actAs is granted on that one account only)
  "compute.instances.setServiceAccount",
  // network tag "tee-instance"
  "compute.instances.setTags",
  // 50 GB boot disk from the Confidential Space image family
  "compute.disks.create",
  "compute.subnetworks.use",
  // the reconciler requests an ONE_TO_ONE_NAT access config (ephemeral external IPv4)
  "compute.subnetworks.useExternalIp",
  // op.Wait() polls the zonal operation
  "compute.zoneOperations.get",
];

/** The custom role id for a room: `[a-zA-Z0-9_.]{3,64}`, deterministic, unique per room. */
export function teeLauncherRoleId(roomName: string): string {
  return `manatee_tee_launcher_${manateeEnv(roomName).replace(/-/g, "_")}`;
}

/** The user-images Artifact Registry repository, as IAM resources address it. */
export interface UserImagesRepositoryRef {
  readonly project: string;
  readonly location: string;
  readonly repositoryId: string;
}

export interface JobServiceIdentityProps {
  /** Clean room name (the ManaTEE `ENV` is derived from it). */
  readonly roomName: string;
  readonly project: string;
  /**
   * Kubernetes namespace of the job service and JupyterHub; the Workload Identity bindings name it.
   * @default "manatee"
   */
  readonly namespace?: string;
  /**
   * The ManaTEE hub bucket (build contexts, outputs, tokens). The API hard-codes its name, so a
   * literal must equal `manateeContract().hubBucket`; pass the bucket resource's `name` to order
   * the grant after the bucket.
   * @default manateeContract(roomName, project).hubBucket
   */
  readonly hubBucket?: string;
  /**
   * The user-images repository Kaniko pushes job images to and pulls the executor base from.
   * The reconciler hard-codes `us-docker.pkg.dev/PROJECT/dcr-ENV-user-images`; pass the
   * repository resource's attributes to order the grant after it.
   * @default { project, location: "us", repositoryId: manateeContract().userImagesRepository }
   */
  readonly userImagesRepository?: UserImagesRepositoryRef;
  /**
   * The service account attached to Confidential Space VMs (the reconciler hard-codes it). Pass
   * the TEE service account's `email` attribute to order the actAs grant after the account.
   * @default manateeContract(roomName, project).teeServiceAccountEmail
   */
  readonly teeServiceAccountEmail?: string;
  /**
   * Cloud SQL login for the Auth Proxy (`roles/cloudsql.client`, `roles/cloudsql.instanceUser`):
   * - `"granted-by-database"`: `JobDatabase`, which owns the instance, grants both (limited to
   *   its instance); granting them here as well would duplicate the bindings;
   * - `{ instance }`: granted here, limited to that instance by an IAM condition on
   *   `resource.name` (for a database created outside this library).
   * Cloud SQL has no instance-level IAM policy, so the grants are project grants; they are never
   * made without the instance condition.
   * @default "granted-by-database"
   */
  readonly databaseAccess?: "granted-by-database" | { readonly instance: string };
  /**
   * Stage-1 buckets JupyterLab may read. The data plane normally grants this per dataset; use
   * this (or `grantStage1Read`) when composing without it.
   * @default []
   */
  readonly stage1Buckets?: readonly string[];
  /**
   * Make the grants on resources other constructs own: objectUser on the hub bucket, actAs on
   * the TEE account, writer on the user-images repository. Set false when the owners grant them
   * (`ImageRegistry.userImages.grantPush`, `ConfidentialSpaceWorkload.grantActAs`, …): one
   * binding must have one owner in Terraform.
   * @default true
   */
  readonly grantOnSharedResources?: boolean;
  /** Permissions added to the TEE launcher role. @default [] */
  readonly extraLauncherPermissions?: readonly string[];
  /** @default the default Google provider */
  readonly provider?: TerraformProvider;
}

/**
 * The Google identities of the job service (`dcr-ENV-pod-sa`) and of the JupyterLab pods, with
 * least-privilege grants:
 *
 * | job service needs | grant |
 * |---|---|
 * | build contexts, signed-URL outputs | `roles/storage.objectUser` on the hub bucket only |
 * | V4 signed URLs via IAM `signBlob` | `roles/iam.serviceAccountTokenCreator` on itself only |
 * | attach the TEE account to VMs | `roles/iam.serviceAccountUser` on the TEE account only |
 * | Kaniko push and base-image pull | `roles/artifactregistry.writer` on the user-images repository only |
 * | launch / watch / delete TEE VMs | custom role `TEE_LAUNCHER_PERMISSIONS` |
 * | Cloud SQL proxy with IAM login | granted by `JobDatabase`, or here with `databaseAccess: { instance }`; one instance only |
 * | structured logs | `roles/logging.logWriter` |
 *
 * The JupyterLab account gets no project role; only `objectViewer` on stage-1 buckets.
 * ManaTEE's leftover `roles/iam.workloadIdentityPoolAdmin` is never granted.
 */
export class JobServiceIdentity extends Construct {
  public readonly namespace: string;
  /** Google SA of the API, the reconciler and Kaniko builds. */
  public readonly jobServiceAccount: ServiceAccount;
  /** Google SA of the JupyterLab single-user pods. */
  public readonly jupyterServiceAccount: ServiceAccount;
  /** Known at synth time, so the workloads stack can use them without cross-stack references. */
  public readonly jobServiceAccountEmail: string;
  public readonly jupyterServiceAccountEmail: string;
  /** `serviceAccount:<email>` (resource attributes: grants made with them wait for the account). */
  public readonly jobServiceMember: string;
  public readonly jupyterMember: string;
  /** The MySQL user IAM database authentication logs the job service in as. */
  public readonly databaseUser: string;
  /** `<project>.svc.id.goog[<namespace>/<ksa>]` identities bound to the two accounts. */
  public readonly jobServiceKubernetesMember: string;
  public readonly jupyterKubernetesMember: string;
  public readonly teeLauncherRole: ProjectIamCustomRole;
  /** Undefined when `grantOnSharedResources` is false (as are the next two). */
  public readonly hubBucketGrant?: StorageBucketIamMember;
  public readonly signBlobGrant: ServiceAccountIamMember;
  public readonly actAsTeeGrant?: ServiceAccountIamMember;
  public readonly userImagesGrant?: ArtifactRegistryRepositoryIamMember;
  public readonly projectGrants: readonly ProjectIamMember[];
  public readonly workloadIdentityBindings: readonly ServiceAccountIamMember[];
  private readonly stage1Grants = new Map<string, StorageBucketIamMember>();
  private readonly provider?: TerraformProvider;

  constructor(scope: Construct, id: string, props: JobServiceIdentityProps) {
    super(scope, id);
    const { roomName, project, provider } = props;
    this.provider = provider;
    requireKubernetesName(props.namespace, "JobServiceIdentity \"namespace\"");
    this.namespace = props.namespace ?? DEFAULT_JOB_SERVICE_NAMESPACE;
    const contract = manateeContract(roomName, project);
    const names = platformNames({ name: roomName, project });

    const hubBucket = props.hubBucket ?? contract.hubBucket;
    requireContractValue(hubBucket, contract.hubBucket, "JobServiceIdentity \"hubBucket\"", "the ManaTEE API writes to it by name (storage.go)");
    const repository = props.userImagesRepository ?? {
      project,
      location: contract.userImagesLocation,
      repositoryId: contract.userImagesRepository,
    };
    requireContractValue(repository.repositoryId, contract.userImagesRepository, "JobServiceIdentity \"userImagesRepository.repositoryId\"", "the reconciler pushes to it by name (registry.go)");
    requireContractValue(repository.location, contract.userImagesLocation, "JobServiceIdentity \"userImagesRepository.location\"", "the reconciler hard-codes us-docker.pkg.dev (registry.go)");
    const teeEmail = props.teeServiceAccountEmail ?? contract.teeServiceAccountEmail;
    requireContractValue(teeEmail, contract.teeServiceAccountEmail, "JobServiceIdentity \"teeServiceAccountEmail\"", "the reconciler attaches it by name (confidential_space.go)");

    this.jobServiceAccount = new ServiceAccount(this, "JobServiceAccount", {
      project,
      accountId: names.jobServiceSaId,
      displayName: `ManaTEE job service (${roomName})`,
      description: "API, reconciler and Kaniko builds of the clean room's job service (Workload Identity).",
      provider,
    });
    this.jupyterServiceAccount = new ServiceAccount(this, "JupyterServiceAccount", {
      project,
      accountId: names.jupyterSaId,
      displayName: `ManaTEE JupyterLab (${roomName})`,
      description: "JupyterLab single-user pods of the clean room: stage-1 data only (Workload Identity).",
      provider,
    });
    this.jobServiceAccountEmail = names.jobServiceSaEmail;
    this.jupyterServiceAccountEmail = names.jupyterSaEmail;
    this.jobServiceMember = this.jobServiceAccount.member;
    this.jupyterMember = this.jupyterServiceAccount.member;
    this.databaseUser = mysqlIamUserName(names.jobServiceSaEmail);

    // Signed URLs are signed by IAM signBlob as the account itself: no key, no other account.
    this.signBlobGrant = new ServiceAccountIamMember(this, "SignBlobAsItself", {
      serviceAccountId: this.jobServiceAccount.name,
      role: "roles/iam.serviceAccountTokenCreator",
      member: this.jobServiceMember,
      provider,
    });
    if (props.grantOnSharedResources ?? true) {
      // objectUser = objectAdmin without object ACL/IAM, which uniform bucket-level access ignores anyway.
      this.hubBucketGrant = new StorageBucketIamMember(this, "HubBucketObjects", {
        bucket: hubBucket,
        role: "roles/storage.objectUser",
        member: this.jobServiceMember,
        provider,
      });
      this.actAsTeeGrant = new ServiceAccountIamMember(this, "ActAsTeeServiceAccount", {
        serviceAccountId: `projects/${project}/serviceAccounts/${teeEmail}`,
        role: "roles/iam.serviceAccountUser",
        member: this.jobServiceMember,
        provider,
      });
      this.userImagesGrant = new ArtifactRegistryRepositoryIamMember(this, "UserImagesWriter", {
        project: repository.project,
        location: repository.location,
        repository: repository.repositoryId,
        role: "roles/artifactregistry.writer",
        member: this.jobServiceMember,
        provider,
      });
    }

    const extra = props.extraLauncherPermissions ?? [];
    for (const p of extra) {
      if (!Token.isUnresolved(p) && !/^[a-z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+){2}$/.test(p)) {
        throw new Error(
          `JobServiceIdentity "extraLauncherPermissions" entry "${p}" is not an IAM permission (service.resource.verb, e.g. "compute.disks.delete").`,
        );
      }
    }
    this.teeLauncherRole = new ProjectIamCustomRole(this, "TeeLauncherRole", {
      project,
      roleId: teeLauncherRoleId(roomName),
      title: `ManaTEE TEE launcher (${roomName})`.slice(0, 100),
      description:
        "Create, watch and delete the clean room's Confidential Space VMs (ManaTEE reconciler). Replaces roles/compute.instanceAdmin.v1.",
      permissions: [...new Set([...TEE_LAUNCHER_PERMISSIONS, ...extra])].sort(),
      stage: "GA",
      provider,
    });

    const projectGrant = (grantId: string, role: string, condition?: IamCondition) =>
      new ProjectIamMember(this, grantId, {
        project,
        role,
        member: this.jobServiceMember,
        condition: conditionBlock(condition),
        provider,
      });
    const grants = [projectGrant("TeeLauncher", this.teeLauncherRole.name), projectGrant("LogWriter", "roles/logging.logWriter")];
    const dbAccess = props.databaseAccess ?? "granted-by-database";
    if (dbAccess !== "granted-by-database") {
      requireNonEmptyValue(dbAccess.instance, `JobServiceIdentity "databaseAccess.instance"`);
      const onlyInstance: IamCondition = {
        title: "job-database-only",
        description: "Only the clean room's job database instance.",
        expression:
          `resource.type == "sqladmin.googleapis.com/Instance" && ` +
          `resource.name == "projects/${project}/instances/${dbAccess.instance}"`,
      };
      grants.push(
        projectGrant("CloudSqlClient", "roles/cloudsql.client", onlyInstance),
        projectGrant("CloudSqlInstanceUser", "roles/cloudsql.instanceUser", onlyInstance),
      );
    }
    this.projectGrants = grants;

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

function requireNonEmptyValue(value: string, field: string): void {
  if (!Token.isUnresolved(value) && value.trim() === "") throw new Error(`${field} is empty.`);
}

function requireContractValue(value: string, expected: string, field: string, why: string): void {
  if (Token.isUnresolved(value) || value === expected) return;
  throw new Error(`${field} is "${value}" but must be "${expected}": ${why}. Create it with manateeContract() names.`);
}

function requireKubernetesName(value: string | undefined, field: string): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  const rule = NAME_RULES.kubernetesName;
  if (value.length > rule.max || !rule.pattern.test(value)) {
    throw new Error(`${field} "${value}" is not a valid Kubernetes name (${rule.source}).`);
  }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes half: JobService
// ---------------------------------------------------------------------------------------------

/** Container resources (Kubernetes quantities). */
export interface ContainerResources {
  readonly requests?: { readonly cpu?: string; readonly memory?: string };
  readonly limits?: { readonly cpu?: string; readonly memory?: string };
}

export interface JobServiceDatabase {
  /** Cloud SQL connection name `project:region:instance`. */
  readonly connectionName: string;
  /** The MySQL database the job service owns (gorm migrates its `jobs` table on start). */
  readonly databaseName: string;
  /**
   * The Cloud SQL IAM database user: for MySQL, the job service account's e-mail before `@`
   * (`JobServiceIdentity.databaseUser`, or `mysqlIamUserName(email)`).
   */
  readonly iamUser: string;
}

export interface JobServiceImages {
  /**
   * Artifact Registry repository the ManaTEE service images were pushed to,
   * e.g. `us-central1-docker.pkg.dev/my-project/dcr-room-images`.
   * @default - required unless both `api` and `reconciler` are given
   */
  readonly registry?: string;
  /** Tag of the images in `registry`. Prefer full references with digests in `api`/`reconciler`. @default "latest" */
  readonly tag?: string;
  /** Full API image reference. @default `${registry}/manatee-api:${tag}` */
  readonly api?: string;
  /** Full reconciler image reference. @default `${registry}/manatee-reconciler:${tag}` */
  readonly reconciler?: string;
  /** Cloud SQL Auth Proxy v2 image. @default DEFAULT_CLOUD_SQL_PROXY_IMAGE */
  readonly cloudSqlProxy?: string;
}

export interface JobServiceAccounts {
  /** Google SA e-mail of the job service (`JobServiceIdentity.jobServiceAccountEmail`). */
  readonly jobService: string;
  /** Google SA e-mail of JupyterLab (`JobServiceIdentity.jupyterServiceAccountEmail`). */
  readonly jupyter: string;
}

export interface JobServiceResources {
  /** @default requests 100m CPU / 256Mi, limit 2Gi memory (the API buffers uploaded workspaces in memory) */
  readonly api?: ContainerResources;
  /** @default requests 50m CPU / 64Mi, limit 256Mi memory */
  readonly reconciler?: ContainerResources;
  /** @default requests 50m CPU / 64Mi, limit 256Mi memory */
  readonly cloudSqlProxy?: ContainerResources;
}

export interface JobServiceApiAccess {
  /**
   * Namespace of the JupyterLab pods allowed to call the API.
   * @default the job service namespace
   */
  readonly clientNamespace?: string;
  /** Labels of the pods allowed to call the API. @default JUPYTERHUB_SINGLEUSER_POD_LABELS */
  readonly clientPodLabels?: Readonly<Record<string, string>>;
}

export interface JobServiceProps {
  /** Clean room name (the ManaTEE `ENV` is derived from it). */
  readonly roomName: string;
  readonly project: string;
  /** Region of the TEE subnetwork. */
  readonly region: string;
  /** Zone the reconciler launches Confidential Space VMs in (TDX-capable for C3). */
  readonly zone: string;
  /** @default "manatee" */
  readonly namespace?: string;
  /** Create the namespace (with Pod Security Admission labels). @default true */
  readonly createNamespace?: boolean;
  readonly database: JobServiceDatabase;
  readonly serviceAccounts: JobServiceAccounts;
  readonly images: JobServiceImages;
  /**
   * Launch TEEs with the `confidential-space-debug` image and log redirect. Debug TEEs fail the
   * attestation condition, so this only makes sense in a non-production room whose policy sets
   * `tee.allowDebug`.
   * @default false
   */
  readonly debug?: boolean;
  /** When given, `debug` is checked against `policy.tee.allowDebug`. @default - not checked */
  readonly policy?: CleanRoomPolicy;
  /** API replicas (stateless). The reconciler always runs exactly one. @default 1 */
  readonly apiReplicas?: number;
  /** @default see JobServiceResources */
  readonly resources?: JobServiceResources;
  /** Who may call the API. @default JupyterLab single-user pods of the same namespace */
  readonly apiAccess?: JobServiceApiAccess;
  /** Resources to create first (e.g. the Workload Identity bindings). @default [] */
  readonly dependsOn?: ITerraformDependable[];
  /** @default the default Kubernetes provider */
  readonly provider?: TerraformProvider;
}

const PROXY_PORT = 9910;
const PROXY_HEALTH_PORT = 9090;
/** Distroless `nonroot`: the ManaTEE images are distroless and would otherwise run as root. */
const NON_ROOT_UID = "65532";

const DEFAULT_RESOURCES: Required<JobServiceResources> = {
  api: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "2Gi" } },
  reconciler: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
  cloudSqlProxy: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
};

/**
 * The ManaTEE API and reconciler on GKE, hardened:
 * - namespace enforcing Pod Security `baseline` (not `restricted`: the Kaniko build pods the
 *   reconciler creates run as root without a seccomp profile) and warning/auditing `restricted`;
 * - Kubernetes SAs `dcr-k8s-pod-sa` and `jupyter-k8s-pod-sa` bound to the Google SAs through
 *   Workload Identity, with no API token mounted except in the reconciler (it drives Kaniko jobs);
 * - Role `dcr-pod-role` with only the verbs the reconciler calls (create/get/delete jobs, list
 *   pods, get pods/log);
 * - `mysql-secret` with no secret in it: the Cloud SQL proxy logs in with IAM
 *   (`--auto-iam-authn`), so the password is empty;
 * - Deployments with distinct selectors, non-root read-only containers without capabilities,
 *   RuntimeDefault seccomp, probes, requests and limits, on Workload Identity nodes;
 * - ClusterIP Service `manatee` in front of the API only, and NetworkPolicies that admit only
 *   JupyterLab pods to the API and nothing to the reconciler.
 *
 * One-time database step: MySQL IAM users start without privileges, and Terraform cannot grant
 * them (see `JobDatabase.grantSql`). Until then the API and reconciler fail at start.
 */
export class JobService extends Construct {
  public readonly namespace: string;
  /** Undefined when `createNamespace` is false. */
  public readonly namespaceResource?: NamespaceV1;
  public readonly jobServiceKsa: ServiceAccountV1;
  public readonly jupyterKsa: ServiceAccountV1;
  public readonly role: RoleV1;
  public readonly roleBinding: RoleBindingV1;
  public readonly config: ConfigMapV1;
  public readonly mysqlSecret: SecretV1;
  public readonly api: DeploymentV1;
  public readonly reconciler: DeploymentV1;
  public readonly apiService: ServiceV1;
  public readonly apiNetworkPolicy: NetworkPolicyV1;
  public readonly reconcilerNetworkPolicy: NetworkPolicyV1;
  /** `http://manatee.<namespace>.svc.cluster.local` */
  public readonly apiUrl: string;
  /** Image references in use. */
  public readonly images: { readonly api: string; readonly reconciler: string; readonly cloudSqlProxy: string };

  constructor(scope: Construct, id: string, props: JobServiceProps) {
    super(scope, id);
    const { roomName, project, region, zone, provider } = props;
    const contract = manateeContract(roomName, project);
    const rt = contract.runtime;
    validateJobServiceProps(props);

    const namespaceName = props.namespace ?? DEFAULT_JOB_SERVICE_NAMESPACE;
    this.apiUrl = jobServiceApiUrl(namespaceName);
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

    // Kaniko builds run as this SA too (kaniko.go); none of them needs the Kubernetes API token.
    this.jobServiceKsa = new ServiceAccountV1(this, "JobServiceKsa", {
      metadata: {
        ...meta(contract.jobServiceKsa),
        annotations: { "iam.gke.io/gcp-service-account": props.serviceAccounts.jobService },
      },
      automountServiceAccountToken: false,
      dependsOn,
      provider,
    });
    this.jupyterKsa = new ServiceAccountV1(this, "JupyterKsa", {
      metadata: {
        ...meta(contract.jupyterKsa),
        annotations: { "iam.gke.io/gcp-service-account": props.serviceAccounts.jupyter },
      },
      automountServiceAccountToken: false,
      dependsOn,
      provider,
    });

    // Exactly the calls in imagebuilder/kaniko.go and tee_backend/mock_teebackend.go.
    this.role = new RoleV1(this, "ReconcilerRole", {
      metadata: meta(contract.jobServiceRole),
      rule: [
        { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "delete"] },
        { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
        { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
      ],
      dependsOn,
      provider,
    });
    this.roleBinding = new RoleBindingV1(this, "ReconcilerRoleBinding", {
      metadata: meta(`${contract.jobServiceRole}-binding`),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: this.role.metadata.name },
      subject: [{ kind: "ServiceAccount", name: this.jobServiceKsa.metadata.name, namespace: this.namespace }],
      dependsOn,
      provider,
    });

    const debug = props.debug ?? false;
    this.config = new ConfigMapV1(this, "Config", {
      metadata: meta("manatee-config"),
      data: {
        env: contract.env,
        projectId: project,
        region,
        zone,
        debug: String(debug),
        teeBackend: "GCP",
        storageType: "GCP",
        registryType: "GCP",
      },
      dependsOn,
      provider,
    });
    // IAM database authentication: the proxy injects a short-lived token, so there is no password.
    this.mysqlSecret = new SecretV1(this, "MysqlSecret", {
      metadata: meta(contract.mysqlSecret),
      type: "Opaque",
      data: {
        [rt.mysqlSecretKeys.username]: props.database.iamUser,
        [rt.mysqlSecretKeys.password]: "",
        [rt.mysqlSecretKeys.database]: props.database.databaseName,
      },
      dependsOn,
      provider,
    });

    const registry = props.images.registry;
    const tag = props.images.tag ?? "latest";
    this.images = {
      api: props.images.api ?? `${registry}/${contract.images.api}:${tag}`,
      reconciler: props.images.reconciler ?? `${registry}/${contract.images.reconciler}:${tag}`,
      cloudSqlProxy: props.images.cloudSqlProxy ?? DEFAULT_CLOUD_SQL_PROXY_IMAGE,
    };
    for (const [key, ref] of Object.entries(this.images)) {
      if (!Token.isUnresolved(ref)) parseImageReference(ref, `JobService "images.${key}"`);
    }

    const fromConfig = (name: string, key: string): DeploymentV1SpecTemplateSpecContainerEnv => ({
      name,
      valueFrom: { configMapKeyRef: { name: this.config.metadata.name, key } },
    });
    const fromSecret = (name: string, key: string): DeploymentV1SpecTemplateSpecContainerEnv => ({
      name,
      valueFrom: { secretKeyRef: { name: this.mysqlSecret.metadata.name, key } },
    });
    const e = rt.serviceEnv;
    // The variables each binary reads (reference §3.4); the reconciler also picks backends.
    const sharedEnv: DeploymentV1SpecTemplateSpecContainerEnv[] = [
      fromSecret(e.mysqlUsername, rt.mysqlSecretKeys.username),
      fromSecret(e.mysqlPassword, rt.mysqlSecretKeys.password),
      fromSecret(e.mysqlDatabase, rt.mysqlSecretKeys.database),
      // The proxy listens on 127.0.0.1 only; "localhost" may resolve to ::1 first.
      { name: e.mysqlHost, value: "127.0.0.1" },
      { name: e.mysqlPort, value: String(PROXY_PORT) },
      fromConfig(e.env, "env"),
      fromConfig(e.projectId, "projectId"),
      fromConfig(e.region, "region"),
      fromConfig(e.zone, "zone"),
      fromConfig(e.debug, "debug"),
      fromConfig(e.storageType, "storageType"),
    ];
    const reconcilerEnv = [...sharedEnv, fromConfig(e.registryType, "registryType"), fromConfig(e.teeBackend, "teeBackend")];

    const resources = {
      api: k8sResources(props.resources?.api ?? DEFAULT_RESOURCES.api),
      reconciler: k8sResources(props.resources?.reconciler ?? DEFAULT_RESOURCES.reconciler),
      cloudSqlProxy: k8sResources(props.resources?.cloudSqlProxy ?? DEFAULT_RESOURCES.cloudSqlProxy),
    };
    const proxy = cloudSqlProxyContainer(this.images.cloudSqlProxy, props.database.connectionName, resources.cloudSqlProxy);
    const apiLabels = { ...JOB_SERVICE_API_SELECTOR, "app.kubernetes.io/instance": roomName };
    const reconcilerLabels = { ...JOB_SERVICE_RECONCILER_SELECTOR, "app.kubernetes.io/instance": roomName };

    this.api = new DeploymentV1(this, "Api", {
      metadata: meta("manatee-api", apiLabels),
      spec: {
        replicas: String(props.apiReplicas ?? 1),
        revisionHistoryLimit: 5,
        selector: { matchLabels: apiLabels },
        template: {
          metadata: { labels: { ...commonLabels, ...apiLabels } },
          spec: podSpec({
            serviceAccountName: this.jobServiceKsa.metadata.name,
            // The API needs Google credentials (Workload Identity), never the Kubernetes API.
            automountServiceAccountToken: false,
            tmpSizeLimit: "7Gi",
            containers: [
              {
                name: "api",
                image: this.images.api,
                port: [{ name: "http", containerPort: rt.apiPort, protocol: "TCP" }],
                env: sharedEnv,
                livenessProbe: {
                  httpGet: { path: rt.apiHealthPath, port: "http" },
                  initialDelaySeconds: 10,
                  periodSeconds: 20,
                  timeoutSeconds: 5,
                  failureThreshold: 3,
                },
                readinessProbe: {
                  httpGet: { path: rt.apiHealthPath, port: "http" },
                  periodSeconds: 10,
                  timeoutSeconds: 5,
                  failureThreshold: 3,
                },
                resources: resources.api,
                securityContext: CONTAINER_SECURITY_CONTEXT,
                volumeMount: [{ name: "tmp", mountPath: "/tmp" }],
              },
              proxy,
            ],
          }),
        },
      },
      dependsOn,
      provider,
    });

    this.reconciler = new DeploymentV1(this, "Reconciler", {
      metadata: meta("manatee-reconciler", reconcilerLabels),
      spec: {
        // One reconciler, never two: there is no leader election, and two would launch every job twice.
        replicas: "1",
        strategy: { type: "Recreate" },
        revisionHistoryLimit: 5,
        selector: { matchLabels: reconcilerLabels },
        template: {
          metadata: { labels: { ...commonLabels, ...reconcilerLabels } },
          spec: podSpec({
            serviceAccountName: this.jobServiceKsa.metadata.name,
            // rest.InClusterConfig() and the namespace file (kaniko.go) need the token.
            automountServiceAccountToken: true,
            tmpSizeLimit: "64Mi",
            containers: [
              {
                // No port, so no HTTP probe: the 10 s loop exits on fatal errors and restarts.
                name: "reconciler",
                image: this.images.reconciler,
                env: reconcilerEnv,
                resources: resources.reconciler,
                securityContext: CONTAINER_SECURITY_CONTEXT,
                volumeMount: [{ name: "tmp", mountPath: "/tmp" }],
              },
              proxy,
            ],
          }),
        },
      },
      dependsOn,
      provider,
    });

    this.apiService = new ServiceV1(this, "ApiService", {
      metadata: meta(JOB_SERVICE_API_SERVICE, { "app.kubernetes.io/component": "api" }),
      spec: {
        type: "ClusterIP",
        selector: apiLabels,
        port: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
      },
      dependsOn,
      provider,
    });

    const access = props.apiAccess ?? {};
    const clientNamespace = access.clientNamespace;
    this.apiNetworkPolicy = new NetworkPolicyV1(this, "ApiNetworkPolicy", {
      metadata: meta("manatee-api-ingress"),
      spec: {
        podSelector: { matchLabels: apiLabels },
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
            ports: [{ port: String(rt.apiPort), protocol: "TCP" }],
          },
        ],
      },
      dependsOn,
      provider,
    });
    // Nothing calls the reconciler; kubelet probes are not subject to NetworkPolicy.
    this.reconcilerNetworkPolicy = new NetworkPolicyV1(this, "ReconcilerNetworkPolicy", {
      metadata: meta("manatee-reconciler-deny-ingress"),
      spec: { podSelector: { matchLabels: reconcilerLabels }, policyTypes: ["Ingress"] },
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

const CONTAINER_SECURITY_CONTEXT = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

function podSpec(opts: {
  serviceAccountName: string;
  automountServiceAccountToken: boolean;
  tmpSizeLimit: string;
  containers: DeploymentV1SpecTemplateSpecContainer[];
}) {
  return {
    serviceAccountName: opts.serviceAccountName,
    automountServiceAccountToken: opts.automountServiceAccountToken,
    // No service discovery through environment variables: the images read only their own.
    enableServiceLinks: false,
    nodeSelector: { ...GKE_METADATA_NODE_SELECTOR },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: NON_ROOT_UID,
      runAsGroup: NON_ROOT_UID,
      seccompProfile: { type: "RuntimeDefault" },
    },
    container: opts.containers,
    volume: [{ name: "tmp", emptyDir: { sizeLimit: opts.tmpSizeLimit } }],
  };
}

/**
 * A regular sidecar: provider-kubernetes 12.1.1 (Terraform provider 2.38) has no
 * `restart_policy` on init containers, so native sidecars cannot be declared. It listens on
 * 127.0.0.1 only; health endpoints on 9090 serve the probes.
 */
function cloudSqlProxyContainer(
  image: string,
  connectionName: string,
  resources: KubernetesResources,
): DeploymentV1SpecTemplateSpecContainer {
  return {
    name: "cloud-sql-proxy",
    image,
    args: [
      "--structured-logs",
      "--private-ip",
      "--auto-iam-authn",
      `--port=${PROXY_PORT}`,
      "--health-check",
      "--http-address=0.0.0.0",
      `--http-port=${PROXY_HEALTH_PORT}`,
      connectionName,
    ],
    port: [{ name: "proxy-health", containerPort: PROXY_HEALTH_PORT, protocol: "TCP" }],
    startupProbe: {
      httpGet: { path: "/startup", port: "proxy-health" },
      periodSeconds: 1,
      timeoutSeconds: 5,
      failureThreshold: 30,
    },
    livenessProbe: {
      httpGet: { path: "/liveness", port: "proxy-health" },
      periodSeconds: 60,
      timeoutSeconds: 30,
      failureThreshold: 5,
    },
    resources,
    securityContext: CONTAINER_SECURITY_CONTEXT,
  };
}

function validateJobServiceProps(props: JobServiceProps): void {
  requireKubernetesName(props.namespace, "JobService \"namespace\"");
  if (props.apiAccess?.clientNamespace !== undefined) {
    requireKubernetesName(props.apiAccess.clientNamespace, "JobService \"apiAccess.clientNamespace\"");
  }
  const room = props.roomName;
  if (!Token.isUnresolved(room) && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(room)) {
    throw new Error(
      `JobService "roomName" "${room}" cannot label Kubernetes objects. Use lowercase letters, digits and '-' (at most 63).`,
    );
  }
  const conn = props.database.connectionName;
  if (!Token.isUnresolved(conn) && !/^(?:[a-z0-9.-]+:)?[a-z][-a-z0-9]*:[a-z]+-[a-z]+\d+:[a-z][-a-z0-9]*$/.test(conn)) {
    throw new Error(
      `JobService "database.connectionName" "${conn}" is not a Cloud SQL connection name. ` +
        `Use "project:region:instance" (the instance's connectionName attribute).`,
    );
  }
  const user = props.database.iamUser;
  if (!Token.isUnresolved(user) && (user.includes("@") || user.trim() === "")) {
    throw new Error(
      `JobService "database.iamUser" "${user}" is not a MySQL IAM user name. Cloud SQL names the MySQL user of a ` +
        `service account after the part of its e-mail before "@": pass JobServiceIdentity.databaseUser or mysqlIamUserName(email).`,
    );
  }
  for (const [key, email] of Object.entries(props.serviceAccounts)) {
    if (!Token.isUnresolved(email) && !/^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.:]+\.iam\.gserviceaccount\.com$/.test(email)) {
      throw new Error(
        `JobService "serviceAccounts.${key}" "${email}" is not a Google service account e-mail. ` +
          `Pass the e-mail from JobServiceIdentity (…@<project>.iam.gserviceaccount.com).`,
      );
    }
  }
  const images = props.images;
  if (images.registry === undefined && (images.api === undefined || images.reconciler === undefined)) {
    throw new Error(
      `JobService "images.registry" is required unless both "images.api" and "images.reconciler" are given. ` +
        `Pass the Artifact Registry URL the ManaTEE service images were pushed to.`,
    );
  }
  if (images.registry !== undefined) requireRegistryUrl(images.registry, "JobService \"images.registry\"");
  if (images.tag !== undefined && !Token.isUnresolved(images.tag) && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(images.tag)) {
    throw new Error(`JobService "images.tag" "${images.tag}" is not an image tag.`);
  }
  const replicas = props.apiReplicas;
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1)) {
    throw new Error(`JobService "apiReplicas" must be a whole number of at least 1 (got ${replicas}).`);
  }
  if (props.debug && props.policy && !props.policy.tee.allowDebug) {
    throw new Error(
      `JobService "debug" is true but the policy's tee.allowDebug is false: the reconciler would launch the ` +
        `confidential-space-debug image, which the attestation condition rejects. Leave "debug" false, or set ` +
        `tee.allowDebug: true in the policy of a non-production room.`,
    );
  }
}
