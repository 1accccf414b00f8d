import { compileAttributeCondition, compileJobApprovalCondition } from "../../lib/policy/condition";
import { compileVerifierPolicy } from "../../lib/policy/document";
import { normalizePolicy } from "../../lib/policy/model";
import { evaluateAttributeCondition, withClaim } from "../cel";
import { examplePolicy } from "../util";
import { cpuClaims, digestsOf, gpuClaims, gpuRoom } from "./fixtures";

const policy = gpuRoom();
const condition = compileAttributeCondition(policy);
const { required, cpuOnly } = digestsOf(policy);
const allowed = (claims: object) => evaluateAttributeCondition(condition, claims).allowed;

describe("the GPU room's attribute condition, evaluated by a real CEL engine", () => {
  test("given the GPU-required image on an H100 in CC mode, then the data pool admits it", () => {
    expect(allowed(gpuClaims(policy, required, "ON"))).toBe(true);
  });

  test.each([
    ["CC mode OFF", gpuClaims(policy, required, "OFF")],
    ["CC mode DEVTOOLS", gpuClaims(policy, required, "DEVTOOLS")],
    ["no GPU claims at all (a CPU VM)", cpuClaims(policy, required)],
  ])("given the GPU-required image with %s, then it is refused", (_, claims) => {
    expect(allowed(claims)).toBe(false);
  });

  test("given the CPU-only image on a CPU, then it is admitted; on a GPU in CC mode, then it is refused", () => {
    expect(allowed(cpuClaims(policy, cpuOnly))).toBe(true);
    expect(allowed(gpuClaims(policy, cpuOnly, "ON"))).toBe(false);
  });

  test("given an approval that allows both, then a CPU token and a GPU token in CC mode pass and CC off does not", () => {
    const both = normalizePolicy({
      ...policy,
      parties: undefined,
      datasets: { scans: policy.datasets[0] },
      approvals: policy.approvals.map((a) => (a.imageDigest === cpuOnly ? { ...a, gpu: "allowed" as const } : a)),
    });
    const c = compileAttributeCondition(both);
    expect(evaluateAttributeCondition(c, cpuClaims(both, cpuOnly)).allowed).toBe(true);
    expect(evaluateAttributeCondition(c, gpuClaims(both, cpuOnly, "ON")).allowed).toBe(true);
    expect(evaluateAttributeCondition(c, gpuClaims(both, cpuOnly, "OFF")).allowed).toBe(false);
  });

  test("given a GPU image whose token carries only EXPERIMENTAL support attributes, then it is refused (fail closed, docs/gpu.md)", () => {
    expect(allowed(withClaim(gpuClaims(policy, required, "ON"), "submods.confidential_space.support_attributes", ["EXPERIMENTAL"]))).toBe(false);
  });

  test("given a job pool of a GPU room, then a signed job on a GPU passes only in CC mode", () => {
    const withKey = normalizePolicy({
      ...policy,
      parties: undefined,
      datasets: { scans: { ...policy.datasets[0], approverKey: { fingerprint: "a".repeat(64) } } },
    });
    const job = compileJobApprovalCondition(withKey, "scans");
    const signed = (claims: Record<string, any>) => {
      claims.submods.container.image_signatures = [{ key_id: "a".repeat(64), signature: "c2ln", signature_algorithm: "ECDSA_P256_SHA256" }];
      return claims;
    };
    expect(evaluateAttributeCondition(job, signed(gpuClaims(withKey, required, "ON"))).allowed).toBe(true);
    expect(evaluateAttributeCondition(job, signed(gpuClaims(withKey, required, "OFF"))).allowed).toBe(false);
    expect(evaluateAttributeCondition(job, signed(cpuClaims(withKey, required))).allowed).toBe(true);
  });

  test("given a CPU-only room, then its condition and verifier document say nothing about GPUs", () => {
    const cpu = examplePolicy();
    expect(compileAttributeCondition(cpu)).not.toContain("nvidia_gpu");
    expect(compileVerifierPolicy(cpu).json).not.toContain("gpu");
  });
});
