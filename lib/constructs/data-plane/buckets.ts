/**
 * Clean-room buckets. Each has one purpose (stage-1 data, stage-2 data, the ManaTEE
 * hub, audit records) labelled so the guardrails can find it, and the same hardened baseline:
 * uniform bucket-level access, public access prevention enforced, CMEK, no force-destroy,
 * location inside the residency set. Data buckets keep the dataset's retention promise
 * exactly: objects and their old versions are deleted after `retentionDays`, with no
 * soft-delete tail and no retention policy that could block the deletion.
 */
import { ITerraformDependable, TerraformProvider, Token } from "cdktf";
import { Construct } from "constructs";
import { StorageBucket, StorageBucketLifecycleRule } from "@cdktf/provider-google/lib/storage-bucket";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { CLEAN_ROOM_LABEL, COMPONENT, CleanRoomRef, ComponentLabel, GrantOptions, cleanRoomLabels, conditionBlock, requireGrantableMember, requireInResidency, toGrantOptions } from "../../internal/common";
import { AttestationBoundKey } from "./keys";
import { AuthoritativeIamPolicy, IamGrant, IamMemberGrants } from "../iam-grants";
import { IamCondition } from "../../policy/members";
import { DEFAULT_RETENTION_DAYS } from "../../policy/model";
import { DatasetBucketPurpose, NAME_RULES, dataPlaneNames, resourceName } from "../../policy/names";
import { InvalidPropsError } from "../../errors";

export const BUCKET_PURPOSES = ["stage1", "stage2", "hub", "audit"] as const;
/**
 * What a clean-room bucket is for.
 * @useDeclaredType
 */
export type BucketPurpose = (typeof BUCKET_PURPOSES)[number];

/** Purposes that hold (derivatives of) one dataset and carry its retention promise. */
export const DATA_BUCKET_PURPOSES: readonly BucketPurpose[] = ["stage1", "stage2"];

export const STORAGE_ROLES = {
  objectViewer: "roles/storage.objectViewer",
  objectCreator: "roles/storage.objectCreator",
  objectAdmin: "roles/storage.objectAdmin",
  objectUser: "roles/storage.objectUser",
} as const;

const PURPOSE_COMPONENT: Record<BucketPurpose, ComponentLabel> = {
  stage1: COMPONENT.stage1Bucket,
  stage2: COMPONENT.stage2Bucket,
  hub: COMPONENT.hubBucket,
  audit: COMPONENT.auditBucket,
};

/** 100 years: Cloud Storage's maximum retention period. */
const MAX_RETENTION_DAYS = 36_500;
const DEFAULT_AUDIT_RETENTION_DAYS = 365;
/** Cloud Storage's soft-delete window when enabled: 7 to 90 days. */
const SOFT_DELETE_RANGE = { min: 7, max: 90 };
const GOOGLE_DEFAULT_SOFT_DELETE_DAYS = 7;
const DAY_SECONDS = 86_400;

/** A CMEK key for a bucket. `StorageEncryptionKey` satisfies it. */
export interface BucketEncryptionKey {
  /** `projects/P/locations/L/keyRings/R/cryptoKeys/K` */
  readonly cryptoKeyId: string;
  /** Key location; must equal the bucket location. @default - not checked */
  readonly location?: string;
  /** The grant that lets the Cloud Storage service agent use the key; the bucket waits for it. @default - none */
  readonly serviceAgentGrant?: ITerraformDependable;
}

/** A bucket retention policy (audit buckets only). */
export interface BucketRetentionPolicy {
  /** Objects cannot be deleted or replaced before this age. */
  readonly days: number;
  /**
   * Lock the policy. Irreversible: the period can then never be shortened nor the policy
   * removed, and the bucket cannot be deleted while objects are retained.
   * @default false
   */
  readonly locked?: boolean;
}

export interface CleanRoomBucketProps {
  /** The clean room (a `CleanRoomPolicy` fits). */
  readonly room: CleanRoomRef;
  readonly purpose: BucketPurpose;
  /**
   * The dataset a data bucket (stage1, stage2) belongs to; its `retentionDays` drives
   * the deletion rules. Required for data buckets, refused for others.
   * @default - none
   */
  readonly dataset?: { readonly name: string; readonly retentionDays: number };
  /**
   * CMEK key (normally the room's `StorageEncryptionKey`, never a dataset key). Required for
   * data buckets.
   * @default - Google-managed encryption (hub and audit buckets only)
   */
  readonly encryptionKey?: BucketEncryptionKey;
  /** Bucket location; must lie in `room.residency`. @default room.region */
  readonly location?: string;
  /**
   * Globally unique bucket name. The hub bucket must be exactly `manateeContract().hubBucket`.
   * @default dataPlaneNames(room).datasetBucket(dataset, purpose) for data buckets (e.g. "PROJECT-ROOM-DATASET-s2"),
   *   resourceName("bucket", project, room.name, purpose) otherwise
   */
  readonly bucketName?: string;
  /**
   * Days after which objects and their noncurrent versions are deleted (hub and audit only;
   * data buckets always use the dataset's `retentionDays`).
   * @default 30 for hub, none for audit
   */
  readonly expireAfterDays?: number;
  /**
   * Retention policy (audit buckets only: on data buckets it would forbid the deletion their
   * retention promise requires).
   * @default { days: 365, locked: false } for audit, none otherwise
   */
  readonly retentionPolicy?: BucketRetentionPolicy;
  /**
   * Soft-delete window in days (0 disables). Deleted objects stay restorable this long, so on
   * buckets that promise deletion after N days soft delete would keep data N + 7 days: it is
   * off there, and versioning already protects against mistakes within the retention period.
   * @default 0, or 7 (Google's default) for audit buckets
   */
  readonly softDeleteDays?: number;
  /**
   * Object versioning. Cloud Storage does not allow it together with a retention policy.
   * @default true, false for audit buckets (which have a retention policy)
   */
  readonly versioning?: boolean;
  /** @default "STANDARD" */
  readonly storageClass?: string;
  /** Extra labels; the clean-room labels win on conflict. @default {} */
  readonly labels?: Record<string, string>;
  /**
   * How the bucket's IAM is declared. `authoritative`: one `google_storage_bucket_iam_policy` holds
   * every grant made through this construct and nothing else (no legacy `projectOwner:` roles; a
   * binding added by hand is removed on the next apply); nothing may then grant on the bucket by
   * name. `additive`: one `google_storage_bucket_iam_member` per grant.
   * @default "authoritative" for stage-2 buckets, "additive" otherwise (others grant on those by name)
   */
  readonly iam?: BucketIamMode;
  /** @default room.project */
  readonly project?: string;
  /** @default the provider's default provider */
  readonly provider?: TerraformProvider;
}

export type BucketIamMode = "authoritative" | "additive";

/** One hardened clean-room bucket with member-checked grants. */
export class CleanRoomBucket extends Construct {
  public readonly bucket: StorageBucket;
  public readonly bucketName: string;
  public readonly purpose: BucketPurpose;
  public readonly location: string;
  /** Days after which objects are deleted, when the bucket deletes at all. */
  public readonly expireAfterDays?: number;
  /** `gs://name` */
  public readonly url: string;
  /** The bucket's one IAM policy, when `iam` is `authoritative`. */
  public readonly iamPolicy?: AuthoritativeIamPolicy;
  private readonly memberGrants?: IamMemberGrants<StorageBucketIamMember>;

  constructor(scope: Construct, id: string, props: CleanRoomBucketProps) {
    super(scope, id);
    const { room, purpose, dataset } = props;
    if (!BUCKET_PURPOSES.includes(purpose)) {
      throw new InvalidPropsError(`purpose "${purpose}" is not a bucket purpose. Use one of: ${BUCKET_PURPOSES.join(", ")}.`);
    }
    const isData = DATA_BUCKET_PURPOSES.includes(purpose);
    const project = props.project ?? room.project;
    this.purpose = purpose;
    this.location = props.location ?? room.region;
    requireInResidency(this.location, room.residency, "location");

    if (isData && dataset === undefined) {
      throw new InvalidPropsError(`dataset is required for ${aBucket(purpose)}: its retentionDays decides when objects are deleted.`);
    }
    if (!isData && dataset !== undefined) {
      throw new InvalidPropsError(`dataset is only for data buckets (stage1, stage2), not for ${aBucket(purpose)}.`);
    }
    if (isData && props.expireAfterDays !== undefined) {
      throw new InvalidPropsError(
        `expireAfterDays cannot be set on ${aBucket(purpose)}: it follows the dataset's retentionDays. ` +
          `Change retentionDays of dataset "${dataset!.name}" in the policy instead.`,
      );
    }
    if (isData && props.retentionPolicy !== undefined) {
      throw new InvalidPropsError(
        `retentionPolicy cannot be set on ${aBucket(purpose)}: a retention policy (let alone a locked one) forbids ` +
          `the deletion after retentionDays that the dataset's owners were promised. Only audit buckets carry one.`,
      );
    }
    if (purpose === "hub" && props.retentionPolicy !== undefined) {
      throw new InvalidPropsError(
        `retentionPolicy cannot be set on a hub bucket: ManaTEE overwrites build contexts there, which a retention policy forbids.`,
      );
    }
    if (isData && props.encryptionKey === undefined) {
      throw new InvalidPropsError(
        `encryptionKey is required for ${aBucket(purpose)}. Pass the room's StorageEncryptionKey (never a dataset key).`,
      );
    }
    if (props.encryptionKey instanceof AttestationBoundKey) {
      throw new InvalidPropsError(
        `encryptionKey is the dataset key of "${props.encryptionKey.dataset}". Dataset keys must never be CMEK: the ` +
          `Cloud Storage service agent would need to decrypt with them. Pass the room's StorageEncryptionKey.`,
      );
    }
    const keyLocation = props.encryptionKey?.location;
    if (keyLocation !== undefined && !Token.isUnresolved(keyLocation) && !Token.isUnresolved(this.location)) {
      if (keyLocation.toLowerCase() !== this.location.toLowerCase()) {
        throw new InvalidPropsError(
          `encryptionKey is in "${keyLocation}" but the bucket is in "${this.location}". A CMEK key must be in the ` +
            `bucket's location: create the StorageEncryptionKey in "${this.location}".`,
        );
      }
    }

    const expireAfterDays = isData
      ? dataset!.retentionDays
      : (props.expireAfterDays ?? (purpose === "hub" ? DEFAULT_RETENTION_DAYS : undefined));
    if (expireAfterDays !== undefined) {
      requireDays(isData ? `retentionDays of dataset "${dataset!.name}"` : "expireAfterDays", expireAfterDays, 1, MAX_RETENTION_DAYS);
    }
    this.expireAfterDays = expireAfterDays;

    const retentionPolicy =
      props.retentionPolicy ?? (purpose === "audit" ? { days: DEFAULT_AUDIT_RETENTION_DAYS, locked: false } : undefined);
    if (retentionPolicy !== undefined) {
      requireDays("retentionPolicy.days", retentionPolicy.days, 1, MAX_RETENTION_DAYS);
      if (expireAfterDays !== undefined && expireAfterDays < retentionPolicy.days) {
        throw new InvalidPropsError(
          `expireAfterDays (${expireAfterDays}) is shorter than retentionPolicy.days (${retentionPolicy.days}): ` +
            `objects could not be deleted that early. Set expireAfterDays >= ${retentionPolicy.days}.`,
        );
      }
    }
    const versioning = props.versioning ?? retentionPolicy === undefined;
    if (versioning && retentionPolicy !== undefined) {
      throw new InvalidPropsError(
        `versioning cannot be enabled together with a retentionPolicy (Cloud Storage allows only one of them). ` +
          `Set versioning: false; the retention policy already protects objects from deletion and replacement.`,
      );
    }
    const softDeleteDays = props.softDeleteDays ?? (purpose === "audit" ? GOOGLE_DEFAULT_SOFT_DELETE_DAYS : 0);
    if (softDeleteDays !== 0 && !(Number.isInteger(softDeleteDays) && softDeleteDays >= SOFT_DELETE_RANGE.min && softDeleteDays <= SOFT_DELETE_RANGE.max)) {
      throw new InvalidPropsError(
        `softDeleteDays ${softDeleteDays} is invalid: use 0 (off) or a whole number of days from ${SOFT_DELETE_RANGE.min} to ${SOFT_DELETE_RANGE.max}.`,
      );
    }
    if (isData && softDeleteDays !== 0) {
      throw new InvalidPropsError(
        `softDeleteDays must be 0 on ${aBucket(purpose)}: soft delete would keep deleted data ${softDeleteDays} days ` +
          `beyond the dataset's retentionDays.`,
      );
    }

    // The shared names keep the constructs, the access report and the guardrails in agreement.
    this.bucketName =
      props.bucketName ??
      (dataset
        ? dataPlaneNames({ name: room.name, project }).datasetBucket(dataset.name, purpose as DatasetBucketPurpose)
        : resourceName("bucket", project, room.name, purpose));
    requireBucketName(this.bucketName);

    const labels: Record<string, string> = {
      ...props.labels,
      ...cleanRoomLabels(room.name, PURPOSE_COMPONENT[purpose]),
    };
    if (dataset) {
      labels[CLEAN_ROOM_LABEL.dataset] = dataset.name;
      labels[CLEAN_ROOM_LABEL.retentionDays] = String(dataset.retentionDays);
    }

    this.bucket = new StorageBucket(this, "bucket", {
      name: this.bucketName,
      project,
      location: this.location,
      storageClass: props.storageClass ?? "STANDARD",
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      forceDestroy: false,
      versioning: { enabled: versioning },
      encryption: props.encryptionKey ? { defaultKmsKeyName: props.encryptionKey.cryptoKeyId } : undefined,
      lifecycleRule: lifecycleRules(expireAfterDays),
      retentionPolicy: retentionPolicy
        ? { retentionPeriod: retentionPolicy.days * DAY_SECONDS, isLocked: retentionPolicy.locked ?? false }
        : undefined,
      softDeletePolicy: { retentionDurationSeconds: softDeleteDays * DAY_SECONDS },
      labels,
      // Without the service agent's grant on the CMEK key, bucket creation fails.
      dependsOn: props.encryptionKey?.serviceAgentGrant ? [props.encryptionKey.serviceAgentGrant] : undefined,
      provider: props.provider,
    });
    this.url = `gs://${this.bucketName}`;

    const iam = props.iam ?? (purpose === "stage2" ? "authoritative" : "additive");
    if (iam !== "authoritative" && iam !== "additive") {
      throw new InvalidPropsError(`iam "${iam}" is not a bucket IAM mode. Use "authoritative" or "additive".`, { constructPath: this.node.path, property: "iam" });
    }
    // One reference for every grant: each read of `bucket.name` makes (and traces) a new token.
    const bucketRef = this.bucket.name;
    if (iam === "authoritative") {
      this.iamPolicy = new AuthoritativeIamPolicy(this, "iam", { target: { kind: "bucket", bucket: bucketRef }, provider: props.provider });
    } else {
      this.memberGrants = new IamMemberGrants(this, (scope, id, b) =>
        new StorageBucketIamMember(scope, id, {
          bucket: bucketRef,
          role: b.role,
          member: b.member,
          condition: conditionBlock(b.condition),
          dependsOn: b.dependsOn,
          provider: props.provider,
        }),
      );
    }
  }

  /**
   * `roles/storage.objectViewer`. On a stage-2 bucket only an approved image's principal set or
   * a (reader) service account may read.
   */
  public grantRead(member: string, options?: GrantOptions | IamCondition): IamGrant {
    this.requireStage2Reader(member, "grantRead");
    return this.addGrant("read", STORAGE_ROLES.objectViewer, member, toGrantOptions(options));
  }

  /**
   * A custom role (e.g. bucket metadata only, `storage.buckets.get`, which ManaTEE's SDK calls
   * before reading). On a stage-2 bucket the same members as `grantRead` only.
   */
  public grantCustomRole(role: string, member: string, options?: GrantOptions | IamCondition): IamGrant {
    this.requireStage2Reader(member, "grantCustomRole");
    if (!Token.isUnresolved(role) && !/^(projects|organizations)\/[^/]+\/roles\/[A-Za-z0-9_.]+$/.test(role)) {
      throw new InvalidPropsError(`grantCustomRole role "${role}" is not a custom role (projects/<project>/roles/<id>). Use grantRead or grantWrite for predefined roles.`);
    }
    return this.addGrant("custom", role, member, toGrantOptions(options));
  }

  /** `roles/storage.objectCreator`: upload new objects; no read, no overwrite, no delete. */
  public grantWrite(member: string, options?: GrantOptions | IamCondition): IamGrant {
    return this.addGrant("write", STORAGE_ROLES.objectCreator, member, toGrantOptions(options));
  }

  /**
   * `roles/storage.objectUser`: read, write, overwrite and delete objects (objectAdmin without
   * object ACLs, which uniform bucket-level access ignores), e.g. the job service on its workspace.
   */
  public grantObjectUser(member: string, options?: GrantOptions | IamCondition): IamGrant {
    this.requireStage2Reader(member, "grantObjectUser");
    return this.addGrant("objects", STORAGE_ROLES.objectUser, member, toGrantOptions(options));
  }

  /** `roles/storage.objectAdmin`: read, overwrite and delete objects (e.g. the ManaTEE API on the hub). */
  public grantObjectAdmin(member: string, options?: GrantOptions | IamCondition): IamGrant {
    this.requireStage2Reader(member, "grantObjectAdmin");
    return this.addGrant("admin", STORAGE_ROLES.objectAdmin, member, toGrantOptions(options));
  }

  private requireStage2Reader(member: string, method: string) {
    if (this.purpose !== "stage2") return;
    const digestSet = member.startsWith("principalSet://") && /\/attribute\.image_digest\/sha256:[0-9a-f]{64}$/.test(member);
    // A dataset's job pool maps only owner-signed jobs to this group (docs/job-path.md).
    const jobApproved = member.startsWith("principalSet://") && /\/workloadIdentityPools\/[^/]+\/group\/job-approved$/.test(member);
    if (!digestSet && !jobApproved && !member.startsWith("serviceAccount:")) {
      throw new InvalidPropsError(
        `${method} on a stage-2 bucket refuses "${member}": stage-2 data is readable only by attested, approved ` +
          `workloads. Grant the principal set of an approved image digest, the dataset's job pool group (…/group/job-approved), or the dataset's reader service account.`,
      );
    }
  }

  private addGrant(prefix: string, role: string, member: string, options: GrantOptions): IamGrant {
    requireGrantableMember(member, "member");
    const spec = { role, member, condition: options.condition, dependsOn: options.dependsOn };
    return this.iamPolicy ? this.iamPolicy.grant(spec) : this.memberGrants!.grantHandle(prefix, { ...spec, id: options.id });
  }
}

/**
 * Live objects older than `days` are deleted (with versioning they become noncurrent), then
 * noncurrent versions older than `days` (by creation) are deleted too, so no version of any
 * object outlives the promise by more than the lifecycle's daily run. Incomplete multipart
 * uploads are always aborted after a day.
 */
function lifecycleRules(days: number | undefined): StorageBucketLifecycleRule[] {
  const rules: StorageBucketLifecycleRule[] = [];
  if (days !== undefined) {
    rules.push(
      { action: { type: "Delete" }, condition: { age: days, withState: "LIVE" } },
      { action: { type: "Delete" }, condition: { age: days, withState: "ARCHIVED" } },
    );
  }
  rules.push({ action: { type: "AbortIncompleteMultipartUpload" }, condition: { age: 1 } });
  return rules;
}

/** "a stage2 bucket", "an audit bucket". */
function aBucket(purpose: BucketPurpose): string {
  return `${/^[aeiou]/.test(purpose) ? "an" : "a"} ${purpose} bucket`;
}

function requireDays(field: string, value: number, min: number, max: number) {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidPropsError(`${field} is ${value}; use a whole number of days from ${min} to ${max}.`);
  }
}

function requireBucketName(name: string) {
  if (Token.isUnresolved(name)) return;
  const rule = NAME_RULES.bucket;
  if (name.length < rule.min || name.length > rule.max || !rule.pattern.test(name) || name.startsWith("goog")) {
    throw new InvalidPropsError(`bucketName "${name}" is invalid: ${rule.source}, not starting with "goog".`);
  }
}
