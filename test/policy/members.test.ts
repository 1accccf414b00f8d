import { approvalEnd, datasetMembers, expiryCondition, principalSetForDigest } from "../../lib/policy/members";
import { dataPlaneNames } from "../../lib/policy/names";
import { evaluateIamCondition } from "../cel";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";

const policy = examplePolicy();
const pool = { projectNumber: "123456789012", poolId: dataPlaneNames(policy).poolId };
const principalSet = (digest: string) =>
  `principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/${pool.poolId}/attribute.image_digest/${digest}`;

describe("stage-2 IAM members: one principal set per approved image digest", () => {
  test("given a digest, then the principal set has exactly Google's attribute format", () => {
    expect(principalSetForDigest({ projectNumber: "42", poolId: "room-tee" }, EXAMPLE_DIGEST_A)).toBe(
      `principalSet://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/room-tee/attribute.image_digest/${EXAMPLE_DIGEST_A}`,
    );
  });

  test("given a project number that is a Terraform token, then it is embedded verbatim", () => {
    expect(principalSetForDigest({ projectNumber: "${data.google_project.this.number}", poolId: "p-tee" }, EXAMPLE_DIGEST_A)).toMatch(
      /^principalSet:\/\/iam\.googleapis\.com\/projects\/\$\{data\.google_project\.this\.number\}\/locations\/global\//,
    );
  });

  test("given the example, then insurance gets both approved digests (A expiring, B not) and claims only B", () => {
    expect(datasetMembers(policy, "insurance", pool).map((m) => ({ member: m.member, condition: m.condition }))).toEqual([
      {
        member: principalSet(EXAMPLE_DIGEST_A),
        condition: {
          title: "approval-until-2027-01-31",
          description: "Clean-room approval valid through 2027-01-31 (UTC)",
          expression: 'request.time < timestamp("2027-02-01T00:00:00Z")',
        },
      },
      { member: principalSet(EXAMPLE_DIGEST_B), condition: undefined },
    ]);
    expect(datasetMembers(policy, "claims", pool).map((m) => m.member)).toEqual([principalSet(EXAMPLE_DIGEST_B)]);
  });

  test("given a dataset no approval names, then it gets no member at all", () => {
    const room = examplePolicy({
      datasets: { insurance: { stage1: { kind: "none" } }, unapproved: { stage1: { kind: "none" } } },
    });
    expect(datasetMembers(room, "unapproved", pool)).toEqual([]);
  });

  test("given an approval expiring on the last day of a month or of a leap February, then the end is the next day's midnight UTC", () => {
    expect(approvalEnd("2027-01-31")).toBe("2027-02-01T00:00:00Z");
    expect(approvalEnd("2028-02-28")).toBe("2028-02-29T00:00:00Z");
    expect(approvalEnd("2027-12-31")).toBe("2028-01-01T00:00:00Z");
    expect(expiryCondition("2027-12-31").expression).toBe('request.time < timestamp("2028-01-01T00:00:00Z")');
  });

  describe("given one digest approved twice for a dataset", () => {
    const base = { imageDigest: EXAMPLE_DIGEST_A, datasets: ["insurance"], purpose: "p", approvedBy: "owner@example.org" };

    test("when one approval never expires, then the single member carries no condition (the widest approval wins)", () => {
      const room = examplePolicy({ approvals: [{ ...base, expires: "2027-01-31" }, { ...base }] });
      const members = datasetMembers(room, "insurance", pool);
      expect(members).toHaveLength(1);
      expect(members[0].condition).toBeUndefined();
      expect(members[0].approvals).toHaveLength(2);
    });

    test("when both expire, then the member lasts until the later expiry", () => {
      const room = examplePolicy({ approvals: [{ ...base, expires: "2027-06-30" }, { ...base, expires: "2027-01-31" }] });
      expect(datasetMembers(room, "insurance", pool).map((m) => m.condition?.expression)).toEqual([
        'request.time < timestamp("2027-07-01T00:00:00Z")',
      ]);
    });
  });

  describe("the expiry condition, evaluated by a real CEL engine with request.time as a timestamp", () => {
    const { expression } = expiryCondition("2027-01-31");

    test("given any time on the last valid day, then access is granted", () => {
      expect(evaluateIamCondition(expression, new Date("2027-01-31T00:00:00Z")).allowed).toBe(true);
      expect(evaluateIamCondition(expression, new Date("2027-01-31T23:59:59.999Z")).allowed).toBe(true);
    });

    test("given the first instant after the last day and later, then access is denied", () => {
      expect(evaluateIamCondition(expression, new Date("2027-02-01T00:00:00Z")).allowed).toBe(false);
      expect(evaluateIamCondition(expression, new Date("2030-01-01T00:00:00Z")).allowed).toBe(false);
    });
  });
});
