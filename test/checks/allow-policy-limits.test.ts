/**
 * MCR-IAM3 through the real Aspect: allow policies past Google's limits fail at synth, once per
 * target, whoever declares the grants.
 */
import { StorageBucket } from "@cdktf/provider-google/lib/storage-bucket";
import { StorageBucketIamMember } from "@cdktf/provider-google/lib/storage-bucket-iam-member";
import { TerraformStack } from "cdktf";
import { withoutTokenCreationTraces } from "../../bin/main";
import { check, of } from "./harness";

function bucketWith(stack: TerraformStack, members: string[], conditionOf: (i: number) => string | undefined = () => undefined) {
  const bucket = new StorageBucket(stack, "bucket", { name: "acme-shared-bucket", location: "us-central1" });
  members.forEach((member, i) => {
    const expression = conditionOf(i);
    new StorageBucketIamMember(stack, `m${i}`, {
      bucket: bucket.name,
      role: "roles/storage.objectViewer",
      member,
      condition: expression ? { title: `c${i}`, expression } : undefined,
    });
  });
}

const users = (count: number) => Array.from({ length: count }, (_, i) => `user:analyst-${i}@example.org`);

describe("MCR-IAM3: allow policies within Google's limits", () => {
  test("given 1,500 principals on one bucket, then nothing is reported", () => {
    const { findings } = withoutTokenCreationTraces(() => check((s) => bucketWith(s, users(1500))));
    expect(of(findings, "MCR-IAM3")).toEqual([]);
  });

  test("given 1,501 principals on one bucket, then one error on the first grant names the count, the limit and the fix", () => {
    const { findings } = withoutTokenCreationTraces(() => check((s) => bucketWith(s, users(1501))));
    const found = of(findings, "MCR-IAM3");
    expect(found).toHaveLength(1);
    expect(found[0].address).toMatch(/^google_storage_bucket_iam_member\.m0(_|$)/);
    expect(found[0].message).toBe(
      "The allow policy would hold 1,501 principals across 1,501 IAM resources on ${google_storage_bucket.bucket.name}, over " +
        "Google's limit of 1,500 per allow policy (each occurrence counts). Grant a Google group instead of its members, or spread " +
        "the grants over several resources (for a dataset: access: impersonation splits approved images between reader service accounts).",
    );
  });

  test("given 251 groups, then the 250-group limit is reported", () => {
    const groups = Array.from({ length: 251 }, (_, i) => `group:team-${i}@example.org`);
    const { findings } = check((s) => bucketWith(s, groups));
    expect(of(findings, "MCR-IAM3").map((f) => f.message)).toEqual([
      "The allow policy would hold 251 Google groups and domains across 251 IAM resources on ${google_storage_bucket.bucket.name}, over Google's limit of 250. Nest them in fewer groups.",
    ]);
  });

  test("given one principal holding a role under 21 conditions, then the 20-binding limit is reported; under 20, nothing", () => {
    const expiring = (i: number) => `request.time < timestamp("2027-01-${String(i + 1).padStart(2, "0")}T00:00:00Z")`;
    const over = check((s) => bucketWith(s, Array(21).fill("user:analyst@example.org"), expiring));
    expect(of(over.findings, "MCR-IAM3").map((f) => f.message)).toEqual([
      "user:analyst@example.org holds roles/storage.objectViewer under 21 different conditions across 21 IAM resources on " +
        "${google_storage_bucket.bucket.name}, over Google's limit of 20 role bindings with the same role and principal. Keep one condition per role (the widest).",
    ]);
    const within = check((s) => bucketWith(s, Array(20).fill("user:analyst@example.org"), expiring));
    expect(of(within.findings, "MCR-IAM3")).toEqual([]);
  });
});
