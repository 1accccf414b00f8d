/**
 * MCR-IAM4: administrative project roles only for the policy's operators. Whoever can change IAM,
 * the workload identity pool, KMS or storage on the room's project can reach stage-2 data outside
 * the attestation path (grant themselves decrypt, add a provider, read the buckets). The policy
 * names them (`operators`) and the access report lists them; any other holder is refused.
 */
import { operatorsOf } from "../../policy/model";
import { IamBinding, iamDeclaration, isCustomRole, projectMatches } from "../../analysis/iam";
import { Rule, RuleResult } from "../model";

/** Predefined roles that change IAM, the pool, keys or storage of the whole project. */
export const ADMIN_ROLES: readonly string[] = [
  "roles/owner",
  "roles/editor",
  "roles/iam.securityAdmin",
  "roles/resourcemanager.projectIamAdmin",
  "roles/iam.workloadIdentityPoolAdmin",
  "roles/cloudkms.admin",
  "roles/storage.admin",
];

/** Permissions that make a custom role administrative. */
const ADMIN_PERMISSION = /(\.setIamPolicy$|^iam\.workloadIdentityPoolProviders\.|^cloudkms\.cryptoKeyVersions\.useToDecrypt$)/;

/** `yes`, `no`, or `maybe` for a custom or unresolved role whose permissions this stack does not show. */
export function isAdminBinding(b: IamBinding): "yes" | "no" | "maybe" {
  if (b.permissions) return b.permissions.some((p) => ADMIN_PERMISSION.test(p)) ? "yes" : "no";
  if (b.role === undefined || isCustomRole(b.role)) return "maybe";
  return ADMIN_ROLES.includes(b.role) ? "yes" : "no";
}

export const adminRoles: Rule = {
  id: "MCR-IAM4",
  level: "error",
  title: "Administrative project roles (IAM, pool, KMS, storage, owner, editor) only for the policy's operators",
  resourceTypes: ["google_project_iam_member", "google_project_iam_binding", "google_project_iam_policy"],
  check(resource, index, context) {
    // The operators are the policy's: without it, who may administer the room is unknown.
    if (!context.policy) return [];
    const operators = operatorsOf(context.policy);
    const out: RuleResult[] = [];
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      const admin = isAdminBinding(b);
      if (admin === "no" || !projectMatches(b.target, context)) continue;
      const role = b.role ?? `the unresolved role ${JSON.stringify(b.rawRole)}`;
      for (const m of b.members) {
        if (operators.includes(m.member)) continue;
        out.push({
          level: admin === "maybe" || m.kind === "unknown" ? "warning" : undefined,
          message: `${m.member} holds ${role} on the room's project${admin === "maybe" ? " (cannot tell whether it changes IAM, the pool, keys or storage)" : ""}, yet is not an operator in the policy: it could reach stage-2 data outside the attestation path (grant itself decrypt, add a pool provider, read the buckets). Remove the grant, or list the principal under operators so the access report names it.`,
        });
      }
    }
    return out;
  },
};
