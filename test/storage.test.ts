import { TerraformStack } from "cdktf";
import { AttestationBoundKey, StorageEncryptionKey } from "../lib/constructs/data-plane/keys";
import { manateeContract } from "../lib/policy/names";
import { CleanRoomBucket, CleanRoomBucketProps } from "../lib/constructs/data-plane/buckets";
import { EXAMPLE_DIGEST_A, SynthJson, examplePolicy, resourceConfigs, resources, synthWith, grantsOn } from "./util";

const policy = examplePolicy();
const insurance = policy.datasets.find((d) => d.name === "insurance")!;
const APPROVED = `principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/insurance-study-tee/attribute.image_digest/${EXAMPLE_DIGEST_A}`;

function bucketsByComponent(json: SynthJson): Record<string, any> {
  return Object.fromEntries(resourceConfigs(json, "google_storage_bucket").map((b) => [b.labels.component, b]));
}

describe("CleanRoomBucket: a stage-2 data bucket", () => {
  let json: SynthJson;
  let bucket: any;
  let storageKeyId: string;

  beforeAll(() => {
    json = synthWith((stack) => {
      const key = new StorageEncryptionKey(stack, "storage-key", { room: policy });
      const stage2 = new CleanRoomBucket(stack, "stage2", { room: policy, purpose: "stage2", dataset: insurance, encryptionKey: key });
      stage2.grantRead(APPROVED, { condition: { title: "t", description: "d", expression: 'request.time < timestamp("2027-02-01T00:00:00Z")' } });
      stage2.grantWrite("user:data-owner@example.org");
    });
    [bucket] = resourceConfigs(json, "google_storage_bucket");
    [[storageKeyId]] = resources(json, "google_kms_crypto_key");
  });

  test("given defaults, access is uniform, public access is prevented and nothing is force-destroyed", () => {
    expect(bucket.uniform_bucket_level_access).toBe(true);
    expect(bucket.public_access_prevention).toBe("enforced");
    expect(bucket.force_destroy).toBe(false);
    expect(bucket.versioning).toEqual({ enabled: true });
  });

  test("then it is encrypted with the storage key, after the service agent's grant exists", () => {
    expect(bucket.encryption).toEqual({ default_kms_key_name: `\${google_kms_crypto_key.${storageKeyId}.id}` });
    // The service agent's grant is a binding of the storage key's one policy: the bucket waits for that policy.
    const [[policyId]] = resources(json, "google_kms_crypto_key_iam_policy");
    expect(bucket.depends_on).toEqual([`google_kms_crypto_key_iam_policy.${policyId}`]);
  });

  test("then objects and noncurrent versions are deleted at the dataset's retentionDays, with no retention policy or soft-delete tail", () => {
    expect(bucket.lifecycle_rule).toEqual([
      { action: { type: "Delete" }, condition: { age: insurance.retentionDays, with_state: "LIVE" } },
      { action: { type: "Delete" }, condition: { age: insurance.retentionDays, with_state: "ARCHIVED" } },
      { action: { type: "AbortIncompleteMultipartUpload" }, condition: { age: 1 } },
    ]);
    expect(bucket.retention_policy).toBeUndefined();
    expect(bucket.soft_delete_policy).toEqual({ retention_duration_seconds: 0 });
  });

  test("then it lies in the residency set, with a generated global name and the clean-room labels", () => {
    expect(policy.residency).toContain(bucket.location);
    expect(bucket.name).toBe("acme-clean-room-insurance-study-insurance-s2");
    expect(bucket.labels).toEqual({
      "managed-by": "manatee-cdktf",
      "clean-room": "insurance-study",
      component: "stage2",
      dataset: "insurance",
      "retention-days": "30",
    });
  });

  test("then grants are additive members: read for the approved image (conditional), create-only for the owner", () => {
    const grants = grantsOn(json, "google_storage_bucket");
    expect(grants.map((g) => [g.role, g.member]).sort()).toEqual([
      ["roles/storage.objectCreator", "user:data-owner@example.org"],
      ["roles/storage.objectViewer", APPROVED],
    ]);
    expect(grants.find((g) => g.member === APPROVED).condition.expression).toBe('request.time < timestamp("2027-02-01T00:00:00Z")');
  });

  test("snapshot of a data bucket, paired with the assertions above", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("CleanRoomBucket: hub and audit buckets", () => {
  let json: SynthJson;
  let byComponent: Record<string, any>;

  beforeAll(() => {
    json = synthWith((stack) => {
      const key = new StorageEncryptionKey(stack, "storage-key", { room: policy });
      new CleanRoomBucket(stack, "hub", {
        room: policy,
        purpose: "hub",
        bucketName: manateeContract(policy.name, policy.project).hubBucket,
        encryptionKey: key,
      });
      new CleanRoomBucket(stack, "audit", { room: policy, purpose: "audit", encryptionKey: key });
    });
    byComponent = bucketsByComponent(json);
  });

  test("given the hub purpose, the bucket has exactly the name ManaTEE hard-codes and a 30-day expiry", () => {
    expect(byComponent.hub.name).toBe("dcr-insurance-study-hub");
    expect(byComponent.hub.lifecycle_rule.filter((r: any) => r.action.type === "Delete")).toEqual([
      { action: { type: "Delete" }, condition: { age: 30, with_state: "LIVE" } },
      { action: { type: "Delete" }, condition: { age: 30, with_state: "ARCHIVED" } },
    ]);
    expect(byComponent.hub.retention_policy).toBeUndefined();
    expect(byComponent.hub.labels.dataset).toBeUndefined();
  });

  test("given the audit purpose, the bucket keeps records a year under an unlocked retention policy, without versioning", () => {
    expect(byComponent.audit.retention_policy).toEqual({ retention_period: 365 * 86400, is_locked: false });
    expect(byComponent.audit.versioning).toEqual({ enabled: false });
    expect(byComponent.audit.soft_delete_policy).toEqual({ retention_duration_seconds: 7 * 86400 });
    expect(byComponent.audit.lifecycle_rule).toEqual([
      { action: { type: "AbortIncompleteMultipartUpload" }, condition: { age: 1 } },
    ]);
  });

  test("then both share the hardened baseline", () => {
    for (const b of [byComponent.hub, byComponent.audit]) {
      expect(b).toMatchObject({ uniform_bucket_level_access: true, public_access_prevention: "enforced", force_destroy: false });
      expect(b.encryption.default_kms_key_name).toMatch(/^\$\{google_kms_crypto_key\.[\w-]+\.id\}$/);
    }
  });

  test("given an explicit opt-in, then the audit retention policy is locked", () => {
    const locked = synthWith((stack) => {
      new CleanRoomBucket(stack, "audit", { room: policy, purpose: "audit", retentionPolicy: { days: 400, locked: true } });
    });
    expect(resourceConfigs(locked, "google_storage_bucket")[0].retention_policy).toEqual({
      retention_period: 400 * 86400,
      is_locked: true,
    });
  });

  test("snapshot of hub and audit buckets, paired with the assertions above", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("CleanRoomBucket validation", () => {
  const storageKey = { cryptoKeyId: "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k", location: "us-central1" };
  const build = (props: Partial<CleanRoomBucketProps>, then?: (b: CleanRoomBucket, stack: TerraformStack) => void) => () =>
    synthWith((stack) => {
      const b = new CleanRoomBucket(stack, "b", { room: policy, purpose: "stage2", dataset: insurance, encryptionKey: storageKey, ...props });
      then?.(b, stack);
    });

  test("given a retention policy (locked or not) on a data bucket, then it is refused because it would block deletion", () => {
    expect(build({ retentionPolicy: { days: 30, locked: true } })).toThrow(
      "retentionPolicy cannot be set on a stage2 bucket: a retention policy (let alone a locked one) forbids the deletion " +
        "after retentionDays that the dataset's owners were promised. Only audit buckets carry one.",
    );
    expect(build({ purpose: "stage1", retentionPolicy: { days: 30 } })).toThrow("retentionPolicy cannot be set on a stage1 bucket");
  });

  test("given a location outside the residency set, then the residency set is named", () => {
    expect(build({ location: "US" })).toThrow(
      'location "US" lies outside the residency set [us-central1]. Choose a location in the residency set, ' +
        'or add its region to "residency" if the data owner allows it.',
    );
  });

  test("given a data bucket without CMEK or with a dataset key as CMEK, then the storage key is asked for", () => {
    expect(build({ encryptionKey: undefined })).toThrow(
      "encryptionKey is required for a stage2 bucket. Pass the room's StorageEncryptionKey (never a dataset key).",
    );
    expect(() =>
      synthWith((stack) => {
        const datasetKey = new AttestationBoundKey(stack, "key", { room: policy, dataset: "insurance" });
        new CleanRoomBucket(stack, "b", { room: policy, purpose: "stage2", dataset: insurance, encryptionKey: datasetKey });
      }),
    ).toThrow(
      'encryptionKey is the dataset key of "insurance". Dataset keys must never be CMEK: the Cloud Storage service agent ' +
        "would need to decrypt with them. Pass the room's StorageEncryptionKey.",
    );
  });

  test("given a CMEK key in another location, then the mismatch is named", () => {
    expect(build({ encryptionKey: { cryptoKeyId: "k", location: "us-east1" }, room: { ...policy, residency: ["us-central1", "us-east1"] } })).toThrow(
      'encryptionKey is in "us-east1" but the bucket is in "us-central1". A CMEK key must be in the bucket\'s location: ' +
        'create the StorageEncryptionKey in "us-central1".',
    );
  });

  test("given a data bucket without dataset, or a dataset on a hub bucket, then the misuse is named", () => {
    expect(build({ dataset: undefined })).toThrow(
      "dataset is required for a stage2 bucket: its retentionDays decides when objects are deleted.",
    );
    expect(build({ purpose: "hub" })).toThrow("dataset is only for data buckets (stage1, stage2), not for a hub bucket.");
  });

  test("given soft delete or a custom expiry on a data bucket, then the retention promise wins", () => {
    expect(build({ softDeleteDays: 7 })).toThrow(
      "softDeleteDays must be 0 on a stage2 bucket: soft delete would keep deleted data 7 days beyond the dataset's retentionDays.",
    );
    expect(build({ expireAfterDays: 365 })).toThrow(
      "expireAfterDays cannot be set on a stage2 bucket: it follows the dataset's retentionDays. " +
        'Change retentionDays of dataset "insurance" in the policy instead.',
    );
    expect(build({ dataset: { name: "insurance", retentionDays: 0 } })).toThrow(
      'retentionDays of dataset "insurance" is 0; use a whole number of days from 1 to 36500.',
    );
  });

  test("given versioning with a retention policy, or expiry before retention ends, then Cloud Storage's rules are named", () => {
    const audit = { purpose: "audit" as const, dataset: undefined };
    expect(build({ ...audit, versioning: true })).toThrow(
      "versioning cannot be enabled together with a retentionPolicy (Cloud Storage allows only one of them).",
    );
    expect(build({ ...audit, expireAfterDays: 30 })).toThrow(
      "expireAfterDays (30) is shorter than retentionPolicy.days (365): objects could not be deleted that early. Set expireAfterDays >= 365.",
    );
  });

  test("given an invalid bucket name, then the naming rule is named", () => {
    expect(build({ bucketName: "Hub.Bucket" })).toThrow(
      'bucketName "Hub.Bucket" is invalid: Cloud Storage bucket name: 3-63 chars, lowercase letters, digits, -, _, not starting with "goog".',
    );
  });

  test("given the public, a whole pool, or a non-attested reader on stage 2, then the grant is refused", () => {
    expect(build({}, (b) => b.grantRead("allAuthenticatedUsers"))).toThrow(
      'grantRead on a stage-2 bucket refuses "allAuthenticatedUsers"',
    );
    expect(build({ purpose: "stage1" }, (b) => b.grantRead("allUsers"))).toThrow(
      'member "allUsers" would make clean-room data public.',
    );
    expect(build({}, (b) => b.grantRead("group:researchers@example.org"))).toThrow(
      'grantRead on a stage-2 bucket refuses "group:researchers@example.org": stage-2 data is readable only by attested, ' +
        "approved workloads. Grant the principal set of an approved image digest, the dataset's job pool group (…/group/job-approved), or the dataset's reader service account.",
    );
    expect(build({}, (b) => b.grantObjectAdmin("user:admin@example.org"))).toThrow("grantObjectAdmin on a stage-2 bucket refuses");
    const wholePool = "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*";
    expect(build({ purpose: "stage1" }, (b) => b.grantWrite(wholePool))).toThrow("names a whole workload identity pool");
  });

  test("given the same grant twice, then one additive member exists", () => {
    const json = build({ purpose: "stage1" }, (b) => {
      b.grantRead("group:researchers@example.org");
      b.grantRead("group:researchers@example.org");
    })();
    expect(resources(json, "google_storage_bucket_iam_member")).toHaveLength(1);
  });
});
