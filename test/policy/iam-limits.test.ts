/**
 * IAM allow-policy limits: what each dataset's policies hold, how an impersonation dataset
 * splits its approved images between readers, and the exact failure of a direct dataset that
 * cannot be split. Plus the token-side limits: the attribute condition and google.subject.
 */
import { createHash } from "node:crypto";
import {
  IAM_POLICY_LIMITS,
  IMAGES_PER_READER,
  IamPolicyLimitError,
  assertWithinIamLimits,
  datasetIamLoad,
  iamLimitViolations,
  partitionReaders,
} from "../../lib/policy/iam-limits";
import { ATTRIBUTE_CONDITION_MAX_LENGTH, ATTRIBUTE_MAPPING, compileAttributeCondition } from "../../lib/policy/condition";
import { Approval, CleanRoomPolicy, DatasetPolicy } from "../../lib/policy/model";
import { evaluateCel } from "../cel";
import { examplePolicy } from "../util";

/** `count` distinct, real-shaped digests. */
function digests(count: number, salt = ""): string[] {
  return Array.from({ length: count }, (_, i) => `sha256:${createHash("sha256").update(`${salt}${i}`).digest("hex")}`);
}

/** The example room with `count` extra images approved for `dataset` (half of them expiring). */
function withApprovals(count: number, dataset: string, overrides: Parameters<typeof examplePolicy>[0] = {}): CleanRoomPolicy {
  const base = examplePolicy(overrides);
  const extra: Approval[] = digests(count).map((imageDigest, i) => ({
    imageDigest,
    datasets: [dataset],
    purpose: `analysis ${i}`,
    approvedBy: "owner@example.org",
    ...(i % 2 === 0 ? { expires: `2027-${String((i % 12) + 1).padStart(2, "0")}-15` } : {}),
  }));
  return { ...base, approvals: [...base.approvals, ...extra] };
}

const datasetOf = (policy: CleanRoomPolicy, name: string): DatasetPolicy => policy.datasets.find((d) => d.name === name)!;

describe("the documented limits", () => {
  test("then the library uses Google's numbers: 1,500 principals, 250 groups, 20 conditions per role and principal, 12 operators", () => {
    expect(IAM_POLICY_LIMITS).toEqual({
      principalsPerPolicy: 1500,
      groupsAndDomainsPerPolicy: 250,
      bindingsPerRoleAndPrincipal: 20,
      logicalOperatorsPerCondition: 12,
    });
    // Where the library chooses (reader accounts), it keeps a third of the limit in reserve.
    expect(IMAGES_PER_READER).toBe(1000);
  });
});

describe("partitionReaders: runs of approved images per reader service account", () => {
  test("given 2,001 images, then three readers take 1,000, 1,000 and 1, in policy order, each image exactly once", () => {
    const images = digests(2001);
    const shards = partitionReaders(images);
    expect(shards.map((s) => s.length)).toEqual([1000, 1000, 1]);
    expect(shards.flat()).toEqual(images);
  });

  test("given an approval appended to the policy, then no earlier image moves to another reader", () => {
    const before = partitionReaders(digests(1000));
    const after = partitionReaders([...digests(1000), ...digests(1, "new")]);
    expect(after[0]).toEqual(before[0]);
    expect(after).toHaveLength(2);
  });

  test("given no approvals, then the dataset keeps one (empty) reader, so its grants exist before the first approval", () => {
    expect(partitionReaders([])).toEqual([[]]);
  });

  test("given a capacity that is not a positive whole number, then it says what it needs", () => {
    expect(() => partitionReaders(["a"], 0)).toThrow("capacity must be a whole number of images of at least 1, got 0.");
  });
});

describe("datasetIamLoad: what each allow policy of a dataset holds", () => {
  test("given the example, then each policy holds the principals the data plane grants", () => {
    const policy = examplePolicy();
    expect(datasetIamLoad(policy, datasetOf(policy, "insurance"))).toEqual({
      dataset: "insurance",
      access: "direct",
      approvedImages: 2,
      readers: 0,
      owners: 1,
      policies: [
        { resource: "stage-1 bucket", principals: 3, groupsAndDomains: 1 }, // researchers group, JupyterLab SA, owner
        { resource: "stage-2 bucket", principals: 4, groupsAndDomains: 0 }, // 2 images + the job pool's group + owner
        { resource: "dataset key", principals: 4, groupsAndDomains: 0 },
      ],
    });
    expect(datasetIamLoad(policy, datasetOf(policy, "claims")).policies).toEqual([
      { resource: "stage-1 bucket", principals: 2, groupsAndDomains: 1 },
      { resource: "stage-2 bucket", principals: 2, groupsAndDomains: 0 }, // the reader, twice: read and the SDK's bucket get
      { resource: "dataset key", principals: 1, groupsAndDomains: 0 },
      { resource: "reader service account", reader: 1, principals: 1, groupsAndDomains: 0 },
    ]);
  });

  test("given 1,000 images on an impersonation dataset, then one reader holds them all; the key holds one principal, the bucket the reader twice", () => {
    const policy = withApprovals(999, "claims");
    const load = assertWithinIamLimits(policy, datasetOf(policy, "claims"));
    expect(load.approvedImages).toBe(1000);
    expect(load.readers).toBe(1);
    expect(load.policies.find((p) => p.resource === "stage-2 bucket")!.principals).toBe(2); // read + bucket get
    expect(load.policies.find((p) => p.resource === "dataset key")!.principals).toBe(1);
  });

  test("given 3,001 images on an impersonation dataset, then four readers each stay within the limit", () => {
    const policy = withApprovals(3000, "claims");
    const load = assertWithinIamLimits(policy, datasetOf(policy, "claims"));
    expect(load.readers).toBe(4);
    expect(load.policies.filter((p) => p.resource === "reader service account").map((p) => p.principals)).toEqual([1000, 1000, 1000, 1]);
    expect(load.policies.find((p) => p.resource === "dataset key")!.principals).toBe(4);
    expect(Math.max(...load.policies.map((p) => p.principals))).toBeLessThanOrEqual(IAM_POLICY_LIMITS.principalsPerPolicy);
  });
});

describe("datasets over a limit fail with the dataset, the count, the limit and the fix", () => {
  test("given 1,498 images on a direct dataset with one owner and per-job approval, then the stage-2 bucket and key are exactly at 1,500 and pass", () => {
    const policy = withApprovals(1496, "insurance"); // + the example's 2 = 1,498 images, + the job pool's group, + the owner
    expect(iamLimitViolations(policy)).toEqual([]);
    const load = datasetIamLoad(policy, datasetOf(policy, "insurance"));
    expect(load.policies.filter((p) => p.resource === "stage-2 bucket" || p.resource === "dataset key").map((p) => p.principals)).toEqual([1500, 1500]);
  });

  test("given 1,499 images on a direct dataset with one owner and per-job approval, then the stage-2 bucket (1,501) fails and the message says to impersonate", () => {
    const policy = withApprovals(1497, "insurance");
    let error: unknown;
    try {
      assertWithinIamLimits(policy, datasetOf(policy, "insurance"));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(IamPolicyLimitError);
    expect((error as IamPolicyLimitError).dataset).toBe("insurance");
    expect((error as Error).message).toBe(
      'Dataset "insurance": the allow policy of its stage-2 bucket would hold 1,501 principals (1,499 approved images, the per-job approval group and 1 data owner), ' +
        "over Google's limit of 1,500 per allow policy. A direct-mode policy cannot be split: set datasets.insurance.access: impersonation " +
        "(approved images then impersonate reader service accounts of up to 1,000 images each, and only those readers hold grants on the " +
        "buckets and key), or remove approvals that have expired.",
    );
    // The key fails the same way.
    expect(iamLimitViolations(policy).map((m) => m.split(" would hold")[0])).toEqual([
      'Dataset "insurance": the allow policy of its stage-2 bucket',
      'Dataset "insurance": the allow policy of its dataset key',
    ]);
  });

  test("given 1,500 images on a direct dataset with one owner and no approver key fingerprint, then there is no job group: the stage-2 bucket holds 1,501", () => {
    const base = withApprovals(1498, "insurance");
    const policy = {
      ...base,
      datasets: base.datasets.map((d) => {
        const { approverKey: _omit, ...rest } = d;
        return rest;
      }),
    };
    expect(iamLimitViolations(policy)[0]).toBe(
      'Dataset "insurance": the allow policy of its stage-2 bucket would hold 1,501 principals (1,500 approved images and 1 data owner), ' +
        "over Google's limit of 1,500 per allow policy. A direct-mode policy cannot be split: set datasets.insurance.access: impersonation " +
        "(approved images then impersonate reader service accounts of up to 1,000 images each, and only those readers hold grants on the " +
        "buckets and key), or remove approvals that have expired.",
    );
  });

  test("given per-job approval on an impersonation dataset, then the job pool's group counts on the first reader only", () => {
    const base = withApprovals(1500, "claims");
    const policy = {
      ...base,
      datasets: base.datasets.map((d) => (d.name === "claims" ? { ...d, approverKey: { fingerprint: "3d2e388615ff4ee3c6e18410353402dc726fda76349a38e049300bf49fc4cb14" } } : d)),
    };
    const readers = datasetIamLoad(policy, datasetOf(policy, "claims")).policies.filter((p) => p.resource === "reader service account");
    expect(readers.map((p) => p.principals)).toEqual([1001, 501]); // 1,000 images + the group; 501 images
  });

  test("given the same approvals with access: impersonation, then nothing fails", () => {
    const base = withApprovals(1498, "insurance");
    const policy = { ...base, datasets: base.datasets.map((d) => (d.name === "insurance" ? { ...d, access: "impersonation" as const } : d)) };
    expect(iamLimitViolations(policy)).toEqual([]);
    expect(datasetIamLoad(policy, datasetOf(policy, "insurance")).readers).toBe(2);
  });

  test("given 1,500 researchers listed one by one, then the stage-1 bucket fails and the message says to use groups", () => {
    const researchers = Array.from({ length: 1500 }, (_, i) => `user:researcher-${i}@example.org`);
    const policy = examplePolicy({ researchers });
    expect(iamLimitViolations(policy)).toEqual([
      'Dataset "insurance": the allow policy of its stage-1 bucket would hold 1,502 principals (1,500 researchers, the JupyterLab ' +
        "service account and 1 data owner), over Google's limit of 1,500 per allow policy. List researchers and datasets.insurance.owners " +
        "as Google groups (group:…) instead of one principal each.",
      'Dataset "claims": the allow policy of its stage-1 bucket would hold 1,501 principals (1,500 researchers, the JupyterLab ' +
        "service account and 0 data owners), over Google's limit of 1,500 per allow policy. List researchers and datasets.claims.owners " +
        "as Google groups (group:…) instead of one principal each.",
    ]);
  });

  test("given 251 researcher groups, then the stage-1 bucket is over the 250-group limit", () => {
    const researchers = Array.from({ length: 251 }, (_, i) => `group:team-${i}@example.org`);
    const [first] = iamLimitViolations(examplePolicy({ researchers }));
    expect(first).toBe(
      'Dataset "insurance": the allow policy of its stage-1 bucket would hold 251 Google groups and domains, over Google\'s limit of 250 per allow policy. Nest them in fewer groups.',
    );
  });
});

describe("token-side limits whatever the number of approvals", () => {
  test("given 1,000 approvals, then the attribute condition is unchanged and far below 4,096 characters", () => {
    const policy = withApprovals(1000, "insurance");
    const condition = compileAttributeCondition(policy);
    expect(condition).toBe(compileAttributeCondition(examplePolicy()));
    expect(condition.length).toBeLessThan(ATTRIBUTE_CONDITION_MAX_LENGTH / 4);
  });

  test("given the longest digest, project number and instance id a token can carry, then google.subject stays within 127 bytes", () => {
    // test/policy/condition.test.ts evaluates the mapping on the production token; this is the worst case.
    const assertion = {
      submods: {
        container: { image_digest: digests(1)[0] },
        gce: { project_number: "9".repeat(19), instance_id: "18446744073709551615" },
      },
    };
    const subject = evaluateCel(ATTRIBUTE_MAPPING["google.subject"], { assertion }).result as string;
    expect(subject).toBe(`gcpcs::${digests(1)[0]}::${"9".repeat(19)}::18446744073709551615`);
    expect(Buffer.byteLength(subject)).toBeLessThanOrEqual(127);
  });
});
