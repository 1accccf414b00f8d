/** MCR-APV2: per-job approval is off for a dataset whose owners could use it; a warning that says how to turn it on. */
import { checkContext } from "../../lib/checks/context";
import { checkTerraform } from "../../lib/checks/engine";
import { Finding } from "../../lib/checks/model";
import { CleanRoomSuppressions } from "../../lib/checks/suppressions";
import { CleanRoomDataPlane } from "../../lib/constructs/data-plane/datasets";
import { loadPolicyFile } from "../../lib/policy/load";
import { CleanRoomPolicy } from "../../lib/policy/model";
import { examplePolicy, synthWith } from "../util";
import { jobPolicy, noApproverKeys } from "../policy/job-fixtures";
import { check, of } from "./harness";

const NOW = new Date("2026-01-01T00:00:00Z");
const apv2 = (policy: CleanRoomPolicy, withPolicy = true): Finding[] => {
  const json = synthWith((stack) => {
    new CleanRoomDataPlane(stack, "data", { policy });
  });
  const context = withPolicy ? checkContext({ policy, now: NOW }) : checkContext({ project: policy.project, now: NOW });
  return checkTerraform(json, context).filter((f) => f.ruleId === "MCR-APV2");
};

describe("MCR-APV2: per-job approval off", () => {
  test("given a dataset with owners and no fingerprint, then one warning on its approver key says how to turn approval on", () => {
    const found = apv2(noApproverKeys()); // insurance has an owner and no approverKey; claims has no owners
    expect(found).toHaveLength(1);
    expect(found[0].level).toBe("warning");
    expect(found[0].address).toMatch(/^google_kms_crypto_key\.data_datasets_insurance_approver_/);
    expect(found[0].message).toBe(
      'Per-job approval is off for dataset "insurance": the room file names no approverKey.fingerprint, so there is no job pool, ' +
        "its owners (user:data-owner@example.org) cannot approve jobs one by one, and only standing approvals open its stage-2 data. " +
        "To turn it on: after the first deploy, run `manatee jobs approver-key --dataset insurance`, put the fingerprint it prints in " +
        "datasets.insurance.approverKey.fingerprint, and deploy.",
    );
  });

  test("given the example room file (fingerprint on insurance, claims without owners), then nothing is reported", () => {
    expect(apv2(loadPolicyFile("stacks/example.cleanroom.yaml"))).toEqual([]);
  });

  test("given examplePolicy() (the same room as the file), then nothing is reported", () => {
    expect(apv2(examplePolicy())).toEqual([]);
  });

  test("given every dataset's fingerprint, then nothing is reported", () => {
    expect(apv2(jobPolicy())).toEqual([]);
  });

  test("given owners on both datasets and no fingerprints, then each dataset is reported once", () => {
    const base = noApproverKeys();
    const policy = examplePolicy({
      datasets: {
        insurance: { ...base.datasets[0] },
        claims: { ...base.datasets[1], owners: ["group:claims-owners@example.org"] },
      },
    });
    expect(apv2(policy).map((f) => f.message.match(/dataset "([a-z-]+)"/)![1]).sort()).toEqual(["claims", "insurance"]);
  });

  test("given no policy, then owners and fingerprints are unknown and nothing is reported", () => {
    expect(apv2(noApproverKeys(), false)).toEqual([]);
  });

  test("given a suppression with a reason on the approver key, then the finding is info and keeps the reason", () => {
    const policy = noApproverKeys();
    const reason = "This room relies on standing approvals only, reviewed quarterly";
    const { findings } = check(
      (stack) => {
        const plane = new CleanRoomDataPlane(stack, "data", { policy });
        CleanRoomSuppressions.add(plane.datasets.insurance.approverKey.key, [{ id: "MCR-APV2", reason }]);
      },
      { policy },
    );
    expect(of(findings, "MCR-APV2", "warning")).toEqual([]);
    expect(findings.filter((f) => f.ruleId === "MCR-APV2")).toEqual([
      expect.objectContaining({ level: "info", suppressed: { level: "warning", reason } }),
    ]);
  });
});
