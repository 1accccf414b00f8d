/**
 * The attestation-bound data plane of one clean room, composed from its policy: the
 * Confidential Space pool and TEE workload, the dataset and storage key rings, and per dataset
 * its stage-1 and stage-2 buckets, its key and every grant the policy implies.
 */
import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { ArtifactRegistryRepository } from "@cdktf/provider-google/lib/artifact-registry-repository";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { KmsKeyRing } from "@cdktf/provider-google/lib/kms-key-ring";
import { ProjectIamCustomRole } from "@cdktf/provider-google/lib/project-iam-custom-role";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import {
  CLEAN_ROOM_LABEL,
  COMPONENT,
  CleanRoomRef,
  GrantOptions,
  cleanRoomLabels,
  requireGrantableMember,
  requireInResidency,
} from "../../internal/common";
import { ConfidentialSpaceWorkload, ConfidentialSpaceWorkloadProps } from "./confidential-space";
import { AuthoritativeIamPolicy, IamMemberGrants, grantOnProject } from "../iam-grants";
import { ApproverKey, AttestationBoundKey, CleanRoomKeyProps, StorageEncryptionKey } from "./keys";
import { IMAGES_PER_READER, assertWithinIamLimits, partitionReaders } from "../../policy/iam-limits";
import { DatasetMember, IamCondition, datasetMembers } from "../../policy/members";
import { AccessMode, CleanRoomPolicy, DatasetPolicy, locationOf } from "../../policy/model";
import { dataPlaneNames, dockerRepositoryPath } from "../../policy/names";
import { CleanRoomBucket } from "./buckets";
import { ConfidentialSpacePool, ConfidentialSpacePoolProps, JobApprovalPool } from "./workload-identity-pool";

/**
 * What ManaTEE's SDK calls besides reading objects: `projects.get` (the project number for its
 * credential configuration) and `storage.buckets.get` (before reading). Custom roles, because
 * the predefined ones that hold them also list every bucket (`storage.bucketViewer`) or reach
 * far more of the project (`browser`).
 */
export const SDK_PERMISSIONS = {
  project: ["resourcemanager.projects.get"],
  stage1: ["storage.buckets.get", "storage.objects.get", "storage.objects.list"],
  bucketMetadata: ["storage.buckets.get"],
} as const;

/** Key settings applied to the dataset keys and the storage key alike. */
export type DataPlaneKeyOptions = Pick<
  CleanRoomKeyProps,
  "rotationPeriod" | "destroyScheduledDuration" | "protectionLevel" | "preventDestroy"
>;

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

/** What the data plane created for one dataset. */
export interface DatasetDataPlane {
  readonly name: string;
  readonly access: AccessMode;
  /** Weakened (stage-1) data: researchers read it. */
  readonly stage1Bucket: CleanRoomBucket;
  /** Real data: only attested workloads running an approved image read it. */
  readonly stage2Bucket: CleanRoomBucket;
  /** Wraps the data keys of envelope-encrypted stage-2 files. */
  readonly key: AttestationBoundKey;
  /** `impersonation` mode only: the (first) account that holds this dataset's grants. */
  readonly readerServiceAccount?: ServiceAccount;
  /**
   * `impersonation` mode only: every reader account, each impersonable by its own run of at most
   * IMAGES_PER_READER approved images (one allow policy's worth), all holding the same grants.
   * One reader unless the dataset approves more images than that. Empty in `direct` mode.
   */
  readonly readers: readonly DatasetReader[];
  /** The approved images' principal sets, with their expiry conditions. */
  readonly members: readonly DatasetMember[];
  /** The owners' approver key (always created, so its fingerprint can be read after the first deploy). */
  readonly approverKey: ApproverKey;
  /** Where the owners push approvals (cosign signatures): `tee-signed-image-repos`. Owners write; TEE and job service read. */
  readonly signatureRepository: SignatureRepository;
  /** Only when the policy has the approver key's fingerprint: the dataset's per-job approval pool. */
  readonly jobPool?: JobApprovalPool;
}

/** A reader service account and the approved images that may impersonate it. */
export interface DatasetReader {
  readonly serviceAccount: ServiceAccount;
  /** The account's one IAM policy: exactly who may impersonate it (its approved images, the job pool group). */
  readonly iamPolicy: AuthoritativeIamPolicy;
  readonly members: readonly DatasetMember[];
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
 */
export class CleanRoomDataPlane extends Construct {
  public readonly policy: CleanRoomPolicy;
  public readonly pool: ConfidentialSpacePool;
  public readonly workload: ConfidentialSpaceWorkload;
  /** The ring of the dataset keys (apart from the storage key's ring). */
  public readonly datasetKeyRing: KmsKeyRing;
  /** CMEK of every bucket, on its own key ring. */
  public readonly storageKey: StorageEncryptionKey;
  public readonly datasets: Readonly<Record<string, DatasetDataPlane>>;
  /** `resourcemanager.projects.get` only (ManaTEE's SDK reads the project number); the TEE service account holds it. */
  public readonly projectReaderRole: ProjectIamCustomRole;
  /** `storage.buckets.get` + object get/list: stage-1 read as ManaTEE's SDK does it. */
  public readonly stage1ReaderRole: ProjectIamCustomRole;
  /** `storage.buckets.get` only: readers call it on the stage-2 bucket before reading. */
  public readonly bucketMetadataRole: ProjectIamCustomRole;
  /** The TEE service account's `projectReaderRole` grant: no data, stage 2 calls projects.get with the TEE's own credentials. */
  public readonly teeProjectReaderGrant: ProjectIamMember;
  private readonly provider?: TerraformProvider;
  private readonly sdkGrants = new Map<string, ProjectIamMember>();

  constructor(scope: Construct, id: string, props: CleanRoomDataPlaneProps) {
    super(scope, id);
    const { policy, provider } = props;
    this.policy = policy;
    requireInResidency(policy.region, policy.residency, "region");

    this.pool = new ConfidentialSpacePool(this, "pool", { ...props.pool, policy, provider });
    this.workload = new ConfidentialSpaceWorkload(this, "tee", { ...props.workload, policy, provider });

    this.datasetKeyRing = new KmsKeyRing(this, "dataset-keys", {
      project: policy.project,
      name: dataPlaneNames(policy).datasetKeyRing,
      location: policy.region,
      provider,
    });
    this.storageKey = new StorageEncryptionKey(this, "storage-key", { ...props.keys, room: policy, provider });
    this.provider = provider;

    const names = dataPlaneNames(policy);
    const customRole = (cid: string, roleId: string, title: string, description: string, permissions: readonly string[]) =>
      new ProjectIamCustomRole(this, cid, { project: policy.project, roleId, title, description, permissions: [...permissions], stage: "GA", provider });
    this.projectReaderRole = customRole("sdk-project-role", names.projectReaderRoleId, `ManaTEE SDK project reader (${policy.name})`,
      "Read the project's metadata (its number): nothing else.", SDK_PERMISSIONS.project);
    this.stage1ReaderRole = customRole("sdk-stage1-role", names.stage1ReaderRoleId, `ManaTEE stage-1 reader (${policy.name})`,
      "Read a stage-1 bucket's metadata and objects, as ManaTEE's SDK does.", SDK_PERMISSIONS.stage1);
    this.bucketMetadataRole = customRole("sdk-bucket-role", names.bucketMetadataRoleId, `ManaTEE bucket metadata (${policy.name})`,
      "Read a bucket's metadata only (no objects).", SDK_PERMISSIONS.bucketMetadata);
    this.teeProjectReaderGrant = grantOnProject(this, "tee-project-reader", {
      project: policy.project,
      role: this.projectReaderRole.name,
      member: this.workload.member,
      provider,
    });

    const datasetsScope = new Construct(this, "datasets");
    const datasets: Record<string, DatasetDataPlane> = {};
    for (const dataset of policy.datasets) {
      datasets[dataset.name] = this.addDataset(new Construct(datasetsScope, dataset.name), dataset, props);
    }
    this.datasets = datasets;
  }

  /** `roles/storage.objectViewer` on every stage-1 bucket (e.g. the JupyterHub pods' service account). */
  public grantStage1Read(member: string, options?: GrantOptions | IamCondition): void {
    for (const d of Object.values(this.datasets)) d.stage1Bucket.grantRead(member, options);
  }

  /**
   * What ManaTEE's SDK needs in stage 1 and nothing more: `stage1ReaderRole` (bucket get, object
   * get/list) on every stage-1 bucket and `projectReaderRole` on the project (e.g. JupyterLab's
   * service account). `id` names the grants when `member` is a token.
   */
  public grantSdkStage1Access(member: string, id = "jupyter"): void {
    for (const d of Object.values(this.datasets)) d.stage1Bucket.grantCustomRole(this.stage1ReaderRole.name, member, { id: `sdk-${id}` });
    if (!this.sdkGrants.has(id)) {
      this.sdkGrants.set(id, grantOnProject(this, `sdk-project-${id}`, {
        project: this.policy.project,
        role: this.projectReaderRole.name,
        member,
        provider: this.provider,
      }));
    }
  }

  /**
   * `roles/artifactregistry.reader` on every dataset's signature repository: the job service
   * checks approvals before it launches. Never writer: it must not be able to approve.
   * `id` names the grants when `member` is a token.
   */
  public grantSignatureRead(member: string, id = "job-service"): ArtifactRegistryRepositoryIamMember[] {
    return Object.values(this.datasets).map((d) => d.signatureRepository.grantPull(member, { id: `pull-${id}` }));
  }

  private addDataset(scope: Construct, dataset: DatasetPolicy, props: CleanRoomDataPlaneProps): DatasetDataPlane {
    const { policy, provider } = props;
    const key = new AttestationBoundKey(scope, "key", {
      ...props.keys,
      room: policy,
      dataset: dataset.name,
      keyRingId: this.datasetKeyRing.id,
      provider,
    });
    const bucket = (purpose: "stage1" | "stage2") =>
      new CleanRoomBucket(scope, purpose, {
        room: policy,
        purpose,
        dataset,
        encryptionKey: this.storageKey,
        provider,
      });
    const stage1Bucket = bucket("stage1");
    const stage2Bucket = bucket("stage2");

    const members = datasetMembers(policy, dataset.name, this.pool.poolRef);
    // Google rejects an allow policy over its limits only at apply time.
    assertWithinIamLimits(policy, dataset, members);
    // IAM rejects principal sets of a pool that does not exist yet.
    const dependsOn = [this.pool.oidcProvider];
    const readers: DatasetReader[] = [];

    if (dataset.access === "direct") {
      key.grantDecryptToApprovedImages(members, { dependsOn });
      for (const m of members) {
        const tag = digestTag(m.imageDigest);
        stage2Bucket.grantRead(m.member, { condition: m.condition, dependsOn, id: `read-${tag}` });
      }
    } else {
      // One allow policy takes IMAGES_PER_READER principals: more approved images than that get
      // more readers, each holding the same grants (the first keeps the ids it always had).
      partitionReaders(members, IMAGES_PER_READER).forEach((shard, i) => {
        const n = i + 1;
        const suffix = n === 1 ? "" : `-${n}`;
        const account = new ServiceAccount(scope, `reader${suffix}`, {
          project: policy.project,
          accountId: dataPlaneNames(policy).readerServiceAccountId(dataset.name, n),
          displayName: `Stage-2 reader of ${dataset.name}${n === 1 ? "" : ` (${n})`}`,
          description: `Holds read and decrypt on dataset ${dataset.name}; only approved attested images may impersonate it.`,
          provider,
        });
        const reader = `serviceAccount:${account.email}`;
        stage2Bucket.grantRead(reader, { id: `read-reader${suffix}` });
        key.grantDecryptToReader(reader, { id: `decrypt-reader${suffix}` });
        const iamPolicy = new AuthoritativeIamPolicy(scope, `reader${suffix}-iam`, {
          target: { kind: "service_account", serviceAccountId: account.name },
          provider,
        });
        for (const m of shard) iamPolicy.grant({ role: WORKLOAD_IDENTITY_USER, member: m.member, condition: m.condition, dependsOn });
        readers.push({ serviceAccount: account, iamPolicy, members: shard });
      });
    }

    const approverKey = new ApproverKey(scope, "approver", {
      room: policy,
      dataset: dataset.name,
      owners: dataset.owners,
      keyRingId: this.datasetKeyRing.id,
      protectionLevel: props.keys?.protectionLevel,
      destroyScheduledDuration: props.keys?.destroyScheduledDuration,
      preventDestroy: props.keys?.preventDestroy,
      provider,
    });
    const signatureRepository = new SignatureRepository(scope, "signatures", {
      room: policy,
      dataset: dataset.name,
      owners: dataset.owners,
      location: locationOf(policy, "registry"),
      kmsKeyName: props.signatureRepositoryKmsKeyName,
      provider,
    });
    // The launcher reads the signatures as the TEE service account (tee-signed-image-repos).
    this.workload.grantImagePull(signatureRepository);

    let jobPool: JobApprovalPool | undefined;
    if (dataset.approverKey) {
      jobPool = new JobApprovalPool(scope, "jobs", {
        policy,
        dataset: dataset.name,
        projectNumber: this.pool.project.number,
        provider,
      });
      const afterJobPool = [jobPool.oidcProvider];
      if (dataset.access === "direct") {
        key.grantDecryptToJobApprovals(jobPool.groupPrincipalSet, { dependsOn: afterJobPool });
        stage2Bucket.grantRead(jobPool.groupPrincipalSet, { id: "read-job-approved", dependsOn: afterJobPool });
      } else {
        // Every reader holds the same grants: the first suffices.
        readers[0].iamPolicy.grant({ role: WORKLOAD_IDENTITY_USER, member: jobPool.groupPrincipalSet, dependsOn: afterJobPool });
      }
    }
    // ManaTEE's SDK gets the bucket before reading it.
    for (const r of readers) {
      const reader = `serviceAccount:${r.serviceAccount.email}`;
      stage2Bucket.grantCustomRole(this.bucketMetadataRole.name, reader, { id: `bucket-get-${r.serviceAccount.node.id}` });
    }

    for (const researcher of policy.researchers) stage1Bucket.grantRead(researcher);
    for (const owner of dataset.owners) {
      stage1Bucket.grantWrite(owner);
      stage2Bucket.grantWrite(owner);
      key.grantEncryptOnly(owner);
    }

    return {
      name: dataset.name,
      access: dataset.access,
      stage1Bucket,
      stage2Bucket,
      key,
      readerServiceAccount: readers[0]?.serviceAccount,
      readers,
      members,
      approverKey,
      signatureRepository,
      jobPool,
    };
  }
}

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

const WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser";

/** The first 12 hex digits of a digest: a short, stable construct id per approved image. */
function digestTag(imageDigest: string): string {
  return imageDigest.replace(/^sha256:/, "").slice(0, 12);
}

