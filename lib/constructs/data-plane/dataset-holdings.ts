/**
 * What holds a clean room's datasets, wherever they live: the dataset and storage key rings, the
 * ManaTEE SDK's custom roles and, per dataset, its key, stage-1 and stage-2 buckets, reader
 * accounts, approver key, signature repository and per-job pool, with every grant the policy
 * implies. `CleanRoomDataPlane` (the room's own project) and `PartyDataPlane` (a consortium
 * party's project) add the workload identity pool whose principal sets those grants name.
 */
import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { ArtifactRegistryRepositoryIamMember } from "@cdktf/provider-google/lib/artifact-registry-repository-iam-member";
import { KmsKeyRing } from "@cdktf/provider-google/lib/kms-key-ring";
import { ProjectIamCustomRole } from "@cdktf/provider-google/lib/project-iam-custom-role";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { GrantOptions, requireInResidency } from "../../internal/common";
import { AuthoritativeIamPolicy, IamGrant, grantOnProject } from "../iam-grants";
import { provisionedReleaseCondition, verifierProvisioningDestinations } from "../../policy/document";
import { ApproverKey, AttestationBoundKey, CleanRoomKeyProps, StorageEncryptionKey } from "./keys";
import { IMAGES_PER_READER, assertWithinIamLimits, partitionReaders } from "../../policy/iam-limits";
import { DatasetMember, IamCondition, datasetMembers } from "../../policy/members";
import { AccessMode, CleanRoomPolicy, DatasetPolicy, locationOf } from "../../policy/model";
import { dataPlaneNames } from "../../policy/names";
import { BucketIamMode, CleanRoomBucket } from "./buckets";
import { Stage1ProvisioningTrigger } from "./provisioning";
import { SignatureRepository } from "./signature-repository";
import { ConfidentialSpacePool, JobApprovalPool } from "./workload-identity-pool";

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

/** The settings of each dataset's keys, buckets and repository (`addDatasets`). */
export type DatasetSettings = Pick<DatasetHoldingsProps, "keys" | "signatureRepositoryKmsKeyName" | "stage1Iam">;

export interface DatasetHoldingsProps {
  /** The room's policy: names, approvals and the attestation conditions (which TEEs may read). */
  readonly policy: CleanRoomPolicy;
  /**
   * Where the datasets live: the policy as seen from the project that holds them (its `project`,
   * and only the `datasets` and `approvals` held there).
   */
  readonly home: CleanRoomPolicy;
  /** Key settings for every key. @default DataPlaneKeyOptions defaults (HSM, 90-day rotation, prevent-destroy) */
  readonly keys?: DataPlaneKeyOptions;
  /** @default - Google-managed encryption of the signature repositories */
  readonly signatureRepositoryKmsKeyName?: string;
  /**
   * IAM of the stage-1 buckets: `authoritative` where nothing outside the holdings grants on them
   * (a party's project), `additive` where the room's other constructs grant by name.
   * @default "additive"
   */
  readonly stage1Iam?: BucketIamMode;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

/**
 * The datasets of one project and everything guarding them (see CleanRoomDataPlane). Subclasses
 * create `pool` (whose principal sets the grants name) and call `addDatasets` last.
 */
export abstract class DatasetHoldings extends Construct {
  /** The room's policy. */
  public readonly policy: CleanRoomPolicy;
  /** The workload identity pool whose per-digest principal sets hold the datasets' grants. */
  public abstract readonly pool: ConfidentialSpacePool;
  /** The ring of the dataset keys (apart from the storage key's ring). */
  public readonly datasetKeyRing: KmsKeyRing;
  /** CMEK of every bucket, on its own key ring. */
  public readonly storageKey: StorageEncryptionKey;
  /** `resourcemanager.projects.get` only (ManaTEE's SDK reads the project number). */
  public readonly projectReaderRole: ProjectIamCustomRole;
  /** `storage.buckets.get` + object get/list: stage-1 read as ManaTEE's SDK does it. */
  public readonly stage1ReaderRole: ProjectIamCustomRole;
  /** `storage.buckets.get` only: readers call it on the stage-2 bucket before reading. */
  public readonly bucketMetadataRole: ProjectIamCustomRole;
  /** The policy as seen from the project holding these datasets. */
  protected readonly home: CleanRoomPolicy;
  protected readonly provider?: TerraformProvider;
  private readonly sdkGrants = new Map<string, ProjectIamMember>();
  private held: Readonly<Record<string, DatasetDataPlane>> = {};

  protected constructor(scope: Construct, id: string, props: DatasetHoldingsProps) {
    super(scope, id);
    const { home, provider } = props;
    this.policy = props.policy;
    this.home = home;
    this.provider = provider;
    requireInResidency(home.region, home.residency, "region");

    const names = dataPlaneNames(home);
    this.datasetKeyRing = new KmsKeyRing(this, "dataset-keys", {
      project: home.project,
      name: names.datasetKeyRing,
      location: home.region,
      provider,
    });
    this.storageKey = new StorageEncryptionKey(this, "storage-key", { ...props.keys, room: home, provider });

    const customRole = (cid: string, roleId: string, title: string, description: string, permissions: readonly string[]) =>
      new ProjectIamCustomRole(this, cid, { project: home.project, roleId, title, description, permissions: [...permissions], stage: "GA", provider });
    this.projectReaderRole = customRole("sdk-project-role", names.projectReaderRoleId, `ManaTEE SDK project reader (${home.name})`,
      "Read the project's metadata (its number): nothing else.", SDK_PERMISSIONS.project);
    this.stage1ReaderRole = customRole("sdk-stage1-role", names.stage1ReaderRoleId, `ManaTEE stage-1 reader (${home.name})`,
      "Read a stage-1 bucket's metadata and objects, as ManaTEE's SDK does.", SDK_PERMISSIONS.stage1);
    this.bucketMetadataRole = customRole("sdk-bucket-role", names.bucketMetadataRoleId, `ManaTEE bucket metadata (${home.name})`,
      "Read a bucket's metadata only (no objects).", SDK_PERMISSIONS.bucketMetadata);
  }

  /** Every dataset held here, by name. */
  public get datasets(): Readonly<Record<string, DatasetDataPlane>> {
    return this.held;
  }

  /** Lets the room's TEE service account read a dataset's approvals (`tee-signed-image-repos`). */
  protected abstract grantTeeSignatureRead(repository: SignatureRepository): void;

  /** Creates every dataset of `home` under `datasets/<name>`; call once `pool` exists. */
  protected addDatasets(props: DatasetSettings): void {
    const datasetsScope = new Construct(this, "datasets");
    const datasets: Record<string, DatasetDataPlane> = {};
    for (const dataset of this.home.datasets) {
      datasets[dataset.name] = this.addDataset(new Construct(datasetsScope, dataset.name), dataset, props);
    }
    this.held = datasets;
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
        project: this.home.project,
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

  /**
   * For each dataset with `provisioning`, the trigger whose subscription `subscriber` (the job
   * service) alone pulls: new stage-2 objects start the provisioning job (provisioning.ts).
   * Consortium parties' datasets are not triggered yet: the job service names subscriptions of its own project.
   */
  public addProvisioningTriggers(subscriber: string): Stage1ProvisioningTrigger[] {
    return this.home.datasets
      .filter((d) => d.provisioning !== undefined && d.party === undefined)
      .map((dataset) => new Stage1ProvisioningTrigger(this.node.findChild("datasets").node.findChild(dataset.name), "provisioning", {
        room: this.home,
        dataset,
        stage2Bucket: this.datasets[dataset.name].stage2Bucket,
        subscriber,
        provider: this.provider,
      }));
  }

  /**
   * `roles/storage.objectCreator` for `verifier` (the attestation verifier's service account) on the
   * stage-1 bucket of each dataset with `provisioning`, conditioned on `provisioned/` objects: the
   * verifier releases the provisioning image's output there (the document's `release.provisioning`).
   * Create only, nothing on any other dataset's bucket. Parties' datasets are left out, as their triggers are.
   */
  public grantProvisionedRelease(verifier: string, id = "verifier"): IamGrant[] {
    return verifierProvisioningDestinations(this.home).map(({ dataset, stage1Bucket }) =>
      this.datasets[dataset].stage1Bucket.grantWrite(verifier, {
        id: `${id}-provisioned`,
        condition: provisionedReleaseCondition(stage1Bucket),
      }),
    );
  }

  private addDataset(scope: Construct, dataset: DatasetPolicy, props: DatasetSettings): DatasetDataPlane {
    const policy = this.home;
    const provider = this.provider;
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
        // Stage-2 buckets are always authoritative (CleanRoomBucket's default).
        ...(purpose === "stage1" && props.stage1Iam !== undefined ? { iam: props.stage1Iam } : {}),
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
    this.grantTeeSignatureRead(signatureRepository);

    let jobPool: JobApprovalPool | undefined;
    if (dataset.approverKey) {
      jobPool = new JobApprovalPool(scope, "jobs", {
        // The condition pins the room's TEEs (the operator's in a consortium); the pool lives here.
        policy: this.policy,
        project: policy.project,
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

const WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser";

/** The first 12 hex digits of a digest: a short, stable construct id per approved image. */
function digestTag(imageDigest: string): string {
  return imageDigest.replace(/^sha256:/, "").slice(0, 12);
}
