/** Bucket rules on raw StorageBucket resources: MCR-GCS2 (CMEK), MCR-GCS4 (uniform access), MCR-GCS5 (public access prevention), MCR-GCS3 (retention), MCR-GCS6 (soft delete), MCR-GCS7 (audit retention). */
import { TerraformStack, TerraformVariable } from "cdktf";
import { StorageBucket, StorageBucketConfig } from "@cdktf/provider-google/lib/storage-bucket";
import { examplePolicy } from "../util";
import { check, errors, of } from "./harness";

const CMEK = "projects/acme-clean-room/locations/us-central1/keyRings/room/cryptoKeys/storage";

/** A stage-2 bucket of dataset "insurance" (30 days) that passes every storage rule. */
function safeBucket(overrides: Partial<StorageBucketConfig> = {}): StorageBucketConfig {
  return {
    name: "acme-stage2-insurance",
    location: "us-central1",
    uniformBucketLevelAccess: true,
    publicAccessPrevention: "enforced",
    encryption: { defaultKmsKeyName: CMEK },
    versioning: { enabled: true },
    softDeletePolicy: { retentionDurationSeconds: 0 },
    labels: { component: "stage2", dataset: "insurance", "retention-days": "30" },
    lifecycleRule: [
      { action: { type: "Delete" }, condition: { age: 30 } },
      { action: { type: "Delete" }, condition: { age: 30, withState: "ARCHIVED" } },
    ],
    ...overrides,
  };
}

const bucket = (config: StorageBucketConfig, tweak?: (b: StorageBucket) => void) => (s: TerraformStack) => {
  const b = new StorageBucket(s, "bucket", config);
  tweak?.(b);
};

describe("bucket hardening: MCR-GCS2, MCR-GCS4, MCR-GCS5, one check each", () => {
  test("given the safe data bucket, then no storage finding", () => {
    const { findings } = check(bucket(safeBucket()), { policy: examplePolicy() });
    expect(errors(findings)).toEqual([]);
    expect(findings.filter((f) => f.level === "warning" && f.ruleId.startsWith("MCR-GCS"))).toEqual([]);
  });

  test("given uniform access turned off by an escape hatch, then an error with the fix", () => {
    const { findings } = check(bucket(safeBucket(), (b) => b.addOverride("uniform_bucket_level_access", false)));
    expect(of(findings, "MCR-GCS5")).toEqual([]);
    expect(of(findings, "MCR-GCS4").map((f) => f.message)).toEqual([
      "uniform_bucket_level_access is false: object ACLs can grant access that IAM and these guardrails do not see. Set uniform_bucket_level_access = true.",
    ]);
  });

  test("given a bare bucket, then uniform access and public access prevention are both required", () => {
    const { findings } = check(bucket({ name: "scratch", location: "us-central1" }));
    expect(of(findings, "MCR-GCS4").map((f) => f.message.split(":")[0])).toEqual(["uniform_bucket_level_access is not set (off)"]);
    expect(of(findings, "MCR-GCS5").map((f) => f.message.split(":")[0])).toEqual(["public_access_prevention is not set (inherited)"]);
  });

  test("given an unlabelled bucket without CMEK, then CMEK is not required; a hub bucket without CMEK is an error", () => {
    const plain = check(bucket({ name: "tf-scratch", location: "us-central1", uniformBucketLevelAccess: true, publicAccessPrevention: "enforced" }));
    expect(errors(plain.findings)).toEqual([]);
    const hub = check(bucket({ name: "dcr-x-hub", location: "us-central1", uniformBucketLevelAccess: true, publicAccessPrevention: "enforced", labels: { component: "hub" } }));
    expect(of(hub.findings, "MCR-GCS2").map((f) => f.message)).toEqual([expect.stringMatching(/^This hub bucket holds clean-room data but has no customer-managed key/)]);
    expect(errors(hub.findings).map((f) => f.ruleId)).toEqual(["MCR-GCS2"]);
  });

  test("given settings from a Terraform variable, then a warning, not a crash or a pass", () => {
    const { findings } = check((s) => {
      const pap = new TerraformVariable(s, "pap", { type: "string" });
      new StorageBucket(s, "bucket", { ...safeBucket(), publicAccessPrevention: pap.stringValue });
    });
    expect(of(findings, "MCR-GCS5")).toEqual([]);
    expect(of(findings, "MCR-GCS5", "warning")[0].message).toContain('(it is "${var.pap}")');
  });
});

describe("MCR-GCS3 retention", () => {
  test("given a lifecycle longer than the dataset's retention, then an error naming the days", () => {
    const { findings } = check(
      bucket(safeBucket({ lifecycleRule: [{ action: { type: "Delete" }, condition: { age: 45, withState: "ANY" } }] })),
      { policy: examplePolicy() },
    );
    expect(of(findings, "MCR-GCS3").map((f) => f.message.split(":")[0])).toEqual([
      "No lifecycle rule deletes live objects within 30 days",
      "Versioning keeps noncurrent versions, but no lifecycle rule deletes them within 30 days of creation",
    ]);
  });

  test("given one age rule with state ANY, then live and noncurrent objects are both covered", () => {
    const { findings } = check(bucket(safeBucket({ lifecycleRule: [{ action: { type: "Delete" }, condition: { age: 30, withState: "ANY" } }] })));
    expect(of(findings, "MCR-GCS3")).toEqual([]);
  });

  test("given a prefix-filtered delete rule, then it does not count", () => {
    const { findings } = check(bucket(safeBucket({ lifecycleRule: [{ action: { type: "Delete" }, condition: { age: 1, matchesPrefix: ["tmp/"] } }] })));
    expect(of(findings, "MCR-GCS3")).toHaveLength(2);
  });

  test("given noncurrent versions deleted by time since noncurrent, then they can outlive retention", () => {
    const { findings } = check(
      bucket(safeBucket({ lifecycleRule: [{ action: { type: "Delete" }, condition: { age: 30, withState: "LIVE" } }, { action: { type: "Delete" }, condition: { daysSinceNoncurrentTime: 30 } }] })),
    );
    expect(of(findings, "MCR-GCS3").map((f) => f.message)).toEqual([
      expect.stringMatching(/^Versioning keeps noncurrent versions, but no lifecycle rule deletes them within 30 days of creation/),
    ]);
  });

  test("given a label that disagrees with the policy, then an error; the stricter retention is enforced", () => {
    // "claims" retains 90 days in the policy; the label says 120.
    const { findings } = check(
      bucket(safeBucket({ labels: { component: "stage1", dataset: "claims", "retention-days": "120" }, lifecycleRule: [{ action: { type: "Delete" }, condition: { age: 100 } }] })),
      { policy: examplePolicy() },
    );
    expect(of(findings, "MCR-GCS3").map((f) => f.message)).toEqual([
      'The retention of this stage1 bucket is ambiguous: its label retention-days=120 disagrees with the policy\'s retentionDays=90 for dataset "claims". Make the label match the policy.',
      expect.stringMatching(/^No lifecycle rule deletes live objects within 90 days/),
      expect.stringMatching(/^Versioning keeps noncurrent versions/),
    ]);
  });

  test("given a retention policy longer than the dataset's retention, then deletion is refused: error", () => {
    const { findings } = check(bucket(safeBucket({ retentionPolicy: { retentionPeriod: 90 * 86400, isLocked: true } })));
    expect(of(findings, "MCR-GCS3")[0].message).toContain("longer than the dataset's 30-day retention, so deletion is refused — and the policy is locked");
  });

  test("given no retention-days label and no policy, then a warning asks for the label", () => {
    const { findings } = check(bucket(safeBucket({ labels: { component: "stage1" } })));
    expect(of(findings, "MCR-GCS3", "warning")[0].message).toMatch(/^Cannot check retention: this stage1 bucket has no retention-days label/);
  });

  test("given an audit bucket, then it needs a retention policy (MCR-GCS7)", () => {
    const audit = { name: "acme-audit", location: "us-central1", uniformBucketLevelAccess: true, publicAccessPrevention: "enforced", encryption: { defaultKmsKeyName: CMEK }, labels: { component: "audit" } };
    expect(of(check(bucket(audit)).findings, "MCR-GCS7")[0].message).toMatch(/^This audit bucket has no retention policy/);
    expect(of(check(bucket({ ...audit, retentionPolicy: { retentionPeriod: 400 * 86400 } })).findings, "MCR-GCS7")).toEqual([]);
  });
});

describe("MCR-GCS6 soft delete and the retention promise", () => {
  test("given a data bucket with no soft_delete_policy, then a warning: Google's 7-day default outlives the retention", () => {
    const { findings } = check(bucket(safeBucket({ softDeletePolicy: undefined })), { policy: examplePolicy() });
    expect(of(findings, "MCR-GCS6")).toEqual([]);
    expect(of(findings, "MCR-GCS6", "warning").map((f) => f.message)).toEqual([
      "Soft delete keeps deleted objects restorable for 7.0 more days (Google's default when soft_delete_policy is not set), so data outlives the dataset's 30-day retention. Set soft_delete_policy { retention_duration_seconds = 0 } (versioning already covers mistakes within the retention window).",
    ]);
  });

  test("given soft delete switched off, then no warning", () => {
    const { findings } = check(bucket(safeBucket({ softDeletePolicy: { retentionDurationSeconds: 0 } })), { policy: examplePolicy() });
    expect(of(findings, "MCR-GCS6", "warning")).toEqual([]);
  });

  test("given soft delete turned back on by an escape hatch, then the warning names the days", () => {
    const { findings } = check(
      bucket(safeBucket({ softDeletePolicy: { retentionDurationSeconds: 0 } }), (b) => b.addOverride("soft_delete_policy.retention_duration_seconds", 14 * 86_400)),
      { policy: examplePolicy() },
    );
    expect(of(findings, "MCR-GCS6", "warning")[0].message).toMatch(/^Soft delete keeps deleted objects restorable for 14\.0 more days, so data outlives/);
  });
});
