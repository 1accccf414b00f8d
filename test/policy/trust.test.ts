/**
 * The data pool's condition refuses launch overrides unless an approval lists them, judged by the
 * CEL engine on real-shaped tokens; and the trust settings (operators, audit, allowedEnv) are validated.
 */
import { compileAttributeCondition, ATTRIBUTE_CONDITION_MAX_LENGTH } from "../../lib/policy/condition";
import { TEE_HARDWARE } from "../../lib/policy/model";
import { manateeContract } from "../../lib/policy/names";
import { validatePolicy } from "../../lib/policy/validate";
import { ALLOWED_ENV_LIMITS } from "../../lib/policy/validate-trust";
import { evaluateAttributeCondition } from "../cel";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";

const policy = examplePolicy();
/** A production Confidential Space token of the example room running `digest`. */
function token(digest: string, container: Record<string, unknown> = {}) {
  return {
    swname: "CONFIDENTIAL_SPACE",
    dbgstat: "disabled-since-boot",
    secboot: true,
    hwmodel: "GCP_INTEL_TDX",
    google_service_accounts: [manateeContract(policy.name, policy.project).teeServiceAccountEmail],
    submods: {
      confidential_space: { support_attributes: ["LATEST", "STABLE", "USABLE"] },
      container: { image_digest: digest, restart_policy: "Never", ...container },
      gce: { project_id: policy.project, project_number: "123456789012", instance_id: "1" },
    },
  };
}
const admits = (condition: string, claims: object) => evaluateAttributeCondition(condition, claims).allowed;

describe("the data pool's condition and launch overrides", () => {
  const compiled = compileAttributeCondition(policy);

  test("given no override, then an approved image's token is admitted", () => {
    expect(admits(compiled, token(EXAMPLE_DIGEST_A))).toBe(true);
    expect(admits(compiled, token(EXAMPLE_DIGEST_A, { cmd_override: [], env_override: {} }))).toBe(true);
  });

  test("given tee-cmd or any tee-env-* at launch, then the token is refused", () => {
    expect(admits(compiled, token(EXAMPLE_DIGEST_A, { cmd_override: ["/bin/sh", "-c", "cat /data/*"] }))).toBe(false);
    expect(admits(compiled, token(EXAMPLE_DIGEST_A, { env_override: { EXECUTION_STAGE: "2" } }))).toBe(false);
  });

  test("given an approval that lists allowedEnv, then exactly those names are admitted, on that image only", () => {
    const approvals = policy.approvals.map((a) => (a.imageDigest === EXAMPLE_DIGEST_A ? { ...a, allowedEnv: ["EXECUTION_STAGE"] } : a));
    const condition = compileAttributeCondition({ ...policy, approvals });
    expect(admits(condition, token(EXAMPLE_DIGEST_A, { env_override: { EXECUTION_STAGE: "2" } }))).toBe(true);
    expect(admits(condition, token(EXAMPLE_DIGEST_A, { env_override: { EXECUTION_STAGE: "2", LD_PRELOAD: "/tmp/x.so" } }))).toBe(false);
    expect(admits(condition, token(EXAMPLE_DIGEST_B, { env_override: { EXECUTION_STAGE: "2" } }))).toBe(false);
    expect(admits(condition, token(EXAMPLE_DIGEST_A, { env_override: { EXECUTION_STAGE: "2" }, cmd_override: ["sh"] }))).toBe(false);
  });

  test("given the longest allowedEnv the loader accepts on the longest room, then the condition still fits Google's limit", () => {
    const name = (i: number, j: number) => `${String.fromCharCode(65 + i)}${String.fromCharCode(65 + j)}`.padEnd(ALLOWED_ENV_LIMITS.nameLength, "X");
    const longest = examplePolicy({
      name: "a".repeat(20),
      project: `p${"x".repeat(29)}`,
      tee: { hardware: [...TEE_HARDWARE] },
      approvals: Array.from({ length: ALLOWED_ENV_LIMITS.approvals }, (_, i) => ({
        imageDigest: `sha256:${String(i).repeat(64)}`,
        datasets: ["insurance"],
        purpose: "p",
        approvedBy: "owner@example.org",
        allowedEnv: Array.from({ length: ALLOWED_ENV_LIMITS.namesPerApproval }, (_, j) => name(i, j)),
      })),
    });
    expect(validatePolicy(longest)).toEqual([]);
    expect(compileAttributeCondition(longest).length).toBeLessThanOrEqual(ATTRIBUTE_CONDITION_MAX_LENGTH);
  });
});

describe("validating the trust settings", () => {
  const messages = (overrides: Parameters<typeof examplePolicy>[0]) => validatePolicy(examplePolicy(overrides)).map((i) => i.message);

  test("given operators, audit and allowedEnv as documented, then no issue", () => {
    const approvals = policy.approvals.map((a) => ({ ...a, allowedEnv: ["EXECUTION_STAGE"] }));
    expect(messages({ operators: ["group:platform-admins@example.org"], audit: { lockRetention: false }, approvals })).toEqual([]);
  });

  test("given an operator that is not a principal, a non-boolean lock and a lower-case env name, then one issue each naming the field", () => {
    const approvals = [{ ...policy.approvals[0], allowedEnv: ["execution_stage"] }];
    const found = messages({ operators: ["platform-admins@example.org"], audit: { lockRetention: "yes" as never }, approvals });
    expect(found).toEqual([
      expect.stringMatching(/^operators\[0\]: expected an IAM principal/),
      expect.stringMatching(/^audit\.lockRetention: expected true or false/),
      expect.stringMatching(/^approvals\[0\]\.allowedEnv\[0\]: expected an environment variable name/),
    ]);
  });

  test("given more approvals listing allowedEnv than the condition has room for, then the first one too many is named", () => {
    const approvals = Array.from({ length: ALLOWED_ENV_LIMITS.approvals + 1 }, (_, i) => ({ ...policy.approvals[0], imageDigest: `sha256:${String(i).repeat(64)}`, allowedEnv: ["A"] }));
    expect(messages({ approvals })).toEqual([expect.stringMatching(new RegExp(`^approvals\\[${ALLOWED_ENV_LIMITS.approvals}\\]\\.allowedEnv: ${ALLOWED_ENV_LIMITS.approvals + 1} approvals list allowedEnv`))]);
  });
});
