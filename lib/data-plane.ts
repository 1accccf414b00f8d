/**
 * The attestation-bound data plane of one clean room, composed from its policy: the
 * Confidential Space pool and TEE workload, the dataset and storage key rings, and per dataset
 * its stage-1, stage-2 and outputs buckets, its key and every grant the policy implies.
 */
import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { KmsKeyRing } from "@cdktf/provider-google/lib/kms-key-ring";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { ServiceAccountIamMember } from "@cdktf/provider-google/lib/service-account-iam-member";
import { GrantOptions, conditionBlock, requireInResidency } from "./common";
import { ConfidentialSpaceWorkload, ConfidentialSpaceWorkloadProps } from "./confidential-space";
import { AttestationBoundKey, CleanRoomKeyProps, StorageEncryptionKey } from "./kms";
import { IMAGES_PER_READER, assertWithinIamLimits, partitionReaders } from "./policy/iam-limits";
import { DatasetMember, IamCondition, datasetMembers } from "./policy/members";
import { AccessMode, CleanRoomPolicy, DatasetPolicy } from "./policy/model";
import { dataPlaneNames } from "./policy/names";
import { CleanRoomBucket } from "./storage";
import { ConfidentialSpacePool, ConfidentialSpacePoolProps } from "./workload-identity";

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
  /** Results: approved workloads write, nobody here reads (release grants read). */
  readonly outputsBucket: CleanRoomBucket;
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
}

/** A reader service account and the approved images that may impersonate it. */
export interface DatasetReader {
  readonly serviceAccount: ServiceAccount;
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

  private addDataset(scope: Construct, dataset: DatasetPolicy, props: CleanRoomDataPlaneProps): DatasetDataPlane {
    const { policy, provider } = props;
    const key = new AttestationBoundKey(scope, "key", {
      ...props.keys,
      room: policy,
      dataset: dataset.name,
      keyRingId: this.datasetKeyRing.id,
      provider,
    });
    const bucket = (purpose: "stage1" | "stage2" | "outputs") =>
      new CleanRoomBucket(scope, purpose, {
        room: policy,
        purpose,
        dataset,
        encryptionKey: this.storageKey,
        provider,
      });
    const stage1Bucket = bucket("stage1");
    const stage2Bucket = bucket("stage2");
    const outputsBucket = bucket("outputs");

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
        outputsBucket.grantWrite(m.member, { condition: m.condition, dependsOn, id: `write-${tag}` });
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
        outputsBucket.grantWrite(reader, { id: `write-reader${suffix}` });
        for (const m of shard) {
          new ServiceAccountIamMember(scope, `impersonate-${digestTag(m.imageDigest)}`, {
            serviceAccountId: account.name,
            role: "roles/iam.workloadIdentityUser",
            member: m.member,
            condition: conditionBlock(m.condition),
            dependsOn,
            provider,
          });
        }
        readers.push({ serviceAccount: account, members: shard });
      });
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
      outputsBucket,
      key,
      readerServiceAccount: readers[0]?.serviceAccount,
      readers,
      members,
    };
  }
}

/** The first 12 hex digits of a digest: a short, stable construct id per approved image. */
function digestTag(imageDigest: string): string {
  return imageDigest.replace(/^sha256:/, "").slice(0, 12);
}

