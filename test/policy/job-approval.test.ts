import {
  APPROVER_SIGNATURE_ALGORITHM as LIB_ALGORITHM,
  ATTRIBUTE_CONDITION_MAX_LENGTH,
  ATTRIBUTE_MAPPING,
  JOB_APPROVAL_ATTRIBUTE_MAPPING,
  JOB_APPROVED_GROUP as LIB_GROUP,
  JobApprovalConditionError,
  compileAttributeCondition,
  compileJobApprovalCondition,
  jobApprovalConditionClauses,
} from "../../lib/policy/condition";
import { compileVerifierPolicy } from "../../lib/policy/document";
import { dataPlaneNames, jobInstancePrefix, manateeContract, outputReleaseNames } from "../../lib/policy/names";
import { APPROVER_SIGNATURE_ALGORITHM, JOB_APPROVED_GROUP } from "../../job-service/src/config";
import { debugTdxClaims, evaluateAttributeCondition, evaluateCel, productionTdxClaims, withClaim } from "../cel";
import { examplePolicy } from "../util";

import { FINGERPRINT_A, FINGERPRINT_B, jobPolicy, noApproverKeys } from "./job-fixtures";

const policy = jobPolicy();
const conditionA = compileJobApprovalCondition(policy, "insurance");
const conditionB = compileJobApprovalCondition(policy, "claims");
const claims = { project: policy.project, serviceAccount: manateeContract(policy.name, policy.project).teeServiceAccountEmail };
const signature = (keyId: string, algorithm = "ECDSA_P256_SHA256") => ({ key_id: keyId, signature: "MEUCIQ…", signature_algorithm: algorithm });
/** A production job token as the launcher issues it with tee-signed-image-repos: restart Never, no overrides, signed by A. */
const signedByA = withClaim(productionTdxClaims(claims), "submods.container.image_signatures", [signature(FINGERPRINT_A)]);

describe("the job approval condition, evaluated by a real CEL engine", () => {
  test("given a production token signed by dataset A's approver key, then A's provider admits it and B's refuses it", () => {
    expect(evaluateAttributeCondition(conditionA, signedByA)).toEqual({ allowed: true, result: true });
    expect(evaluateAttributeCondition(conditionB, signedByA).allowed).toBe(false);
  });

  test("given signatures by several keys, then each dataset's provider admits the token when its own key is among them", () => {
    const both = withClaim(signedByA, "submods.container.image_signatures", [signature("00".repeat(32), "RSASSA_PSS_SHA256"), signature(FINGERPRINT_B), signature(FINGERPRINT_A)]);
    expect(evaluateAttributeCondition(conditionA, both).allowed).toBe(true);
    expect(evaluateAttributeCondition(conditionB, both).allowed).toBe(true);
  });

  test("given env_override {} or absent, and cmd_override [], then the token is admitted (real tokens omit absent keys)", () => {
    expect(evaluateAttributeCondition(conditionA, withClaim(signedByA, "submods.container.env_override", {})).allowed).toBe(true);
    expect(evaluateAttributeCondition(conditionA, withClaim(signedByA, "submods.container.cmd_override", [])).allowed).toBe(true);
    expect("env_override" in signedByA.submods.container).toBe(false);
  });

  test("given no restart_policy key, then the token is admitted (Never is the default)", () => {
    expect(evaluateAttributeCondition(conditionA, withClaim(signedByA, "submods.container.restart_policy", undefined)).allowed).toBe(true);
  });

  const denied: [string, Record<string, any>][] = [
    ["no image_signatures key", withClaim(signedByA, "submods.container.image_signatures", undefined)],
    ["an empty image_signatures list", withClaim(signedByA, "submods.container.image_signatures", [])],
    ["A's key id with another algorithm", withClaim(signedByA, "submods.container.image_signatures", [signature(FINGERPRINT_A, "RSASSA_PSS_SHA256")])],
    ["a signature by an unknown key", withClaim(signedByA, "submods.container.image_signatures", [signature("ff".repeat(32))])],
    ["a non-empty cmd_override", withClaim(signedByA, "submods.container.cmd_override", ["sh", "-c", "curl …"])],
    ["a non-empty env_override", withClaim(signedByA, "submods.container.env_override", { LD_PRELOAD: "/tmp/x.so" })],
    ["restart_policy Always", withClaim(signedByA, "submods.container.restart_policy", "Always")],
    ["restart_policy OnFailure", withClaim(signedByA, "submods.container.restart_policy", "OnFailure")],
    ["a debug image", withClaim(debugTdxClaims(claims), "submods.container.image_signatures", [signature(FINGERPRINT_A)])],
    ["another project", withClaim(signedByA, "submods.gce.project_id", "other-project")],
    ["another service account", withClaim(signedByA, "google_service_accounts", ["x@other-project.iam.gserviceaccount.com"])],
    ["not Confidential Space", withClaim(signedByA, "swname", "GCE")],
  ];
  test.each(denied)("given %s, then A's provider refuses the token", (_case, token) => {
    expect(evaluateAttributeCondition(conditionA, token).allowed).toBe(false);
  });

  test("given jobs.allowEnvOverrides, then only those names may be overridden", () => {
    const p = jobPolicy({ allowEnvOverrides: ["SEED", "LOG_LEVEL"] });
    const c = compileJobApprovalCondition(p, "insurance");
    expect(evaluateAttributeCondition(c, withClaim(signedByA, "submods.container.env_override", { SEED: "1", LOG_LEVEL: "debug" })).allowed).toBe(true);
    expect(evaluateAttributeCondition(c, withClaim(signedByA, "submods.container.env_override", {})).allowed).toBe(true);
    expect(evaluateAttributeCondition(c, signedByA).allowed).toBe(true);
    expect(evaluateAttributeCondition(c, withClaim(signedByA, "submods.container.env_override", { SEED: "1", PYTHONPATH: "/tmp" })).allowed).toBe(false);
    expect(evaluateAttributeCondition(c, withClaim(signedByA, "submods.container.cmd_override", ["x"])).allowed).toBe(false);
  });

  test("given allowDebug, then the debug clauses are left out as in the room's own condition", () => {
    const p = examplePolicy({
      tee: { allowDebug: true },
      datasets: { insurance: { stage1: { kind: "none" }, approverKey: { fingerprint: FINGERPRINT_A } } },
      approvals: [],
    });
    expect(evaluateAttributeCondition(compileJobApprovalCondition(p, "insurance"), withClaim(debugTdxClaims(claims), "submods.container.image_signatures", [signature(FINGERPRINT_A)])).allowed).toBe(true);
  });

  test("given the condition, then it starts with the room's own condition and lists each clause with a meaning", () => {
    expect(conditionA.startsWith(`${compileAttributeCondition(policy)} && `)).toBe(true);
    const clauses = jobApprovalConditionClauses(policy, "insurance");
    expect(clauses.every((c) => c.meaning.length > 10)).toBe(true);
    expect(clauses.map((c) => c.cel).join(" && ")).toBe(conditionA);
    expect(conditionA.length).toBeLessThanOrEqual(ATTRIBUTE_CONDITION_MAX_LENGTH);
  });

  test("given a dataset without an approver key, then compiling names the field and the command that prints it", () => {
    expect(() => compileJobApprovalCondition(noApproverKeys(), "insurance")).toThrow(JobApprovalConditionError);
    expect(() => compileJobApprovalCondition(noApproverKeys(), "insurance")).toThrow(/datasets\.insurance\.approverKey\.fingerprint is missing.*manatee jobs approver-key --dataset insurance/);
    expect(() => compileJobApprovalCondition(policy, "nope")).toThrow(/dataset "nope" is not declared/);
  });

  test("given env overrides that push the condition past 4096 characters, then the error names the limit and the fix", () => {
    const names = Array.from({ length: 200 }, (_, i) => `VARIABLE_NUMBER_${i}`);
    expect(() => compileJobApprovalCondition(jobPolicy({ allowEnvOverrides: names }), "insurance")).toThrow(/limit is 4096\. Shorten jobs\.allowEnvOverrides/);
  });
});

describe("the job approval mapping", () => {
  test("given the mapping, then google.subject is the room's compact subject and google.groups the constant group", () => {
    expect(JOB_APPROVAL_ATTRIBUTE_MAPPING).toEqual({ "google.subject": ATTRIBUTE_MAPPING["google.subject"], "google.groups": '["job-approved"]' });
    // Evaluated as STS would: a list holding exactly the group grants name.
    const groups = JOB_APPROVAL_ATTRIBUTE_MAPPING["google.groups"];
    expect(evaluateCel(`${groups} == ['job-approved']`, { assertion: signedByA }).allowed).toBe(true);
    expect(evaluateCel(`size(${groups}) == 1`, { assertion: signedByA }).allowed).toBe(true);
  });

  test("given lib's duplicated constants, then they equal the job service contract's", () => {
    expect(LIB_GROUP).toBe(JOB_APPROVED_GROUP);
    expect(LIB_ALGORITHM).toBe(APPROVER_SIGNATURE_ALGORITHM);
  });
});

describe("job path names", () => {
  test("given the example room, then the job pool, provider, key and repository names fit Google's rules", () => {
    const n = dataPlaneNames(policy);
    expect(n.jobPoolId("insurance")).toBe("insurance-study-insurance-jobs");
    expect(n.jobPoolId("a".repeat(30))).toMatch(/^[a-z0-9][-a-z0-9]{2,30}[a-z0-9]$/);
    expect(n.jobPoolId("a".repeat(30)).length).toBeLessThanOrEqual(32);
    expect(n.jobPoolId("a".repeat(30))).not.toBe(n.jobPoolId(`${"a".repeat(29)}b`));
    expect(n.jobProviderId).toBe("attestation-verifier");
    expect(n.approverKey("insurance")).toBe("insurance-approver");
    expect(n.signatureRepositoryId("insurance")).toBe("insurance-study-insurance-approvals");
    expect(n.projectReaderRoleId).toBe("manatee_insurance_study_project_get");
  });
});

describe("the verifier document", () => {
  test("given a room without approver keys, then it has no jobApprovals key (its hash is unchanged by the job settings)", () => {
    const plain = compileVerifierPolicy(noApproverKeys());
    expect("jobApprovals" in plain.document).toBe(false);
    const withJobs = compileVerifierPolicy(noApproverKeys({ jobs: { executorBases: [`sha256:${"1".repeat(64)}`], timeoutMinutes: 60, allowEnvOverrides: ["SEED"] } }));
    expect(withJobs.sha256).toBe(plain.sha256);
  });

  test("given any normalized room (every room has the job path), then release names the output buckets and the job VMs' prefix", () => {
    const room = noApproverKeys();
    const names = outputReleaseNames(room);
    const expected = { quarantineBucket: names.quarantineBucket, releaseBucket: names.releaseBucket, instancePrefix: jobInstancePrefix(room) };
    expect(compileVerifierPolicy(room).document.release).toEqual(expected);
    expect(expected).toEqual({
      quarantineBucket: "acme-clean-room-insurance-study-quarantine",
      releaseBucket: "acme-clean-room-insurance-study-release",
      instancePrefix: "insurance-study-job",
    });
    // The same with approver keys: release does not depend on per-job approval.
    expect(compileVerifierPolicy(policy).document.release).toEqual(expected);
    // Only a hand-built policy without `jobs` has no release settings.
    expect("release" in compileVerifierPolicy({ ...room, jobs: undefined }).document).toBe(false);
  });

  test("given approver keys, then one entry per dataset carries the key id and the provider's condition verbatim", () => {
    const doc = compileVerifierPolicy(policy).document;
    expect(doc.jobApprovals).toEqual([
      { dataset: "insurance", keyId: FINGERPRINT_A, signatureAlgorithm: "ECDSA_P256_SHA256", attributeCondition: conditionA },
      { dataset: "claims", keyId: FINGERPRINT_B, signatureAlgorithm: "ECDSA_P256_SHA256", attributeCondition: conditionB },
    ]);
    expect(compileVerifierPolicy(policy).sha256).not.toBe(compileVerifierPolicy(noApproverKeys()).sha256);
  });
});
