/**
 * Validation of the trust settings: who may administer the room (`operators`), whether the audit
 * trail is locked (`audit`), and which `tee-env-*` names an approval lets the data pool admit
 * (`approvals[].allowedEnv`). Called by validatePolicyInput (validate.ts) with its checker.
 */

type PolicyPath = readonly (string | number)[];

/** The part of validate.ts's checker these rules use. */
export interface TrustChecker {
  fail(path: PolicyPath, expected: string, value: unknown, extra?: { detail?: string }): undefined;
  map(path: PolicyPath, value: unknown, expected: string, known: readonly string[]): Record<string, unknown> | undefined;
  list<T>(
    path: PolicyPath,
    value: unknown,
    expected: string,
    item: (path: PolicyPath, value: unknown) => T | undefined,
    opts?: { nonEmpty?: boolean; unique?: boolean },
  ): T[] | undefined;
  string(path: PolicyPath, value: unknown, expected: string, valid: (s: string) => boolean): string | undefined;
  principal(path: PolicyPath, value: unknown): string | undefined;
}

/** Fields these rules add to the root, to each approval and to `audit`. */
export const TRUST_FIELDS = {
  root: ["operators", "audit"],
  approval: ["allowedEnv"],
  audit: ["lockRetention"],
} as const;

/**
 * Each approval that lists names adds one clause to the data pool's condition; these bounds keep
 * the longest condition the loader accepts within Google's 4096 characters (test/policy/trust.test.ts).
 */
export const ALLOWED_ENV_LIMITS = { approvals: 6, namesPerApproval: 4, nameLength: 32 } as const;

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

const EXPECT = {
  operators: "a list of IAM principals (user:<email>, group:<email>, serviceAccount:<email> or domain:<domain>) allowed administrative project roles",
  audit: "the audit settings: { lockRetention }",
  lockRetention: "true or false (false only for test rooms that must be torn down)",
  allowedEnv: `a list of at most ${ALLOWED_ENV_LIMITS.namesPerApproval} environment variable names the job service sets for this image`,
  envName: `an environment variable name of at most ${ALLOWED_ENV_LIMITS.nameLength} characters: uppercase letters, digits and '_', not starting with a digit`,
} as const;

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function checkTrust(c: TrustChecker, root: Record<string, unknown>): void {
  if (root.operators !== undefined) c.list(["operators"], root.operators, EXPECT.operators, (p, v) => c.principal(p, v));
  if (root.audit !== undefined) {
    const audit = c.map(["audit"], root.audit, EXPECT.audit, TRUST_FIELDS.audit);
    if (audit?.lockRetention !== undefined && typeof audit.lockRetention !== "boolean") {
      c.fail(["audit", "lockRetention"], EXPECT.lockRetention, audit.lockRetention);
    }
  }
  const allowing: { path: PolicyPath; approval: unknown }[] = [];
  for (const { at, approvals } of approvalLists(root)) {
    approvals.forEach((a, i) => {
      if (!isMap(a) || a.allowedEnv === undefined) return;
      const path = [...at, i, "allowedEnv"];
      const names = c.list(path, a.allowedEnv, EXPECT.allowedEnv, (p, v) =>
        c.string(p, v, EXPECT.envName, (s) => ENV_NAME.test(s) && s.length <= ALLOWED_ENV_LIMITS.nameLength),
      );
      if (names && names.length > ALLOWED_ENV_LIMITS.namesPerApproval) c.fail(path, EXPECT.allowedEnv, a.allowedEnv, { detail: `expected ${EXPECT.allowedEnv}, found ${names.length} names` });
      if (names && names.length > 0) allowing.push({ path, approval: a });
    });
  }
  // Room-wide: the verifier document's condition holds every party's clauses.
  if (allowing.length > ALLOWED_ENV_LIMITS.approvals) {
    const { path, approval } = allowing[ALLOWED_ENV_LIMITS.approvals];
    c.fail(path, `allowedEnv on at most ${ALLOWED_ENV_LIMITS.approvals} approvals`, approval, {
      detail: `${allowing.length} approvals list allowedEnv; at most ${ALLOWED_ENV_LIMITS.approvals} may (each adds a clause to the data pool's condition, which Google caps at 4096 characters). Rebuild images so they need no override.`,
    });
  }
}

/** The room's approval lists: its own and, in a consortium, each inline party section's. */
function approvalLists(root: Record<string, unknown>): { at: PolicyPath; approvals: unknown[] }[] {
  const lists: { at: PolicyPath; approvals: unknown[] }[] = [];
  if (Array.isArray(root.approvals)) lists.push({ at: ["approvals"], approvals: root.approvals });
  if (isMap(root.parties)) {
    for (const [name, section] of Object.entries(root.parties)) {
      if (isMap(section) && Array.isArray(section.approvals)) lists.push({ at: ["parties", name, "approvals"], approvals: section.approvals });
    }
  }
  return lists;
}
