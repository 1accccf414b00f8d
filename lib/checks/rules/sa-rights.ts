/**
 * MCR-IAM5: nobody mints tokens for, manages keys of, or acts as the TEE or reader service
 * accounts. A token of the TEE account passes the data pool's `google_service_accounts` clause
 * and writes the output quarantine; a reader's token is stage-2 read and decrypt. The one
 * exception is the launcher's actAs on the TEE account, which creating job VMs needs (MCR-JOB1
 * scopes what it may create). Checked on the account and at project level.
 */
import { platformNames } from "../../policy/names";
import { IamBinding, iamDeclaration, isCustomRole, permissionsImpersonate, projectMatches, sameServiceAccount, serviceAccountRef, ServiceAccountRef } from "../../analysis/iam";
import { CheckContext, Rule, RuleResult } from "../model";
import { ResourceIndex } from "../../analysis/resource-index";

const RIGHTS = [
  "roles/iam.serviceAccountTokenCreator",
  "roles/iam.serviceAccountOpenIdTokenCreator",
  "roles/iam.serviceAccountKeyAdmin",
  "roles/iam.serviceAccountUser",
  "roles/iam.serviceAccountAdmin",
  "roles/owner",
  "roles/editor",
];

function grantsRights(b: IamBinding): "yes" | "no" | "maybe" {
  if (b.permissions) return permissionsImpersonate(b.permissions) ? "yes" : "no";
  if (b.role === undefined || isCustomRole(b.role)) return "maybe";
  return RIGHTS.includes(b.role) ? "yes" : "no";
}

interface Guarded {
  readonly sa: ServiceAccountRef;
  readonly what: string;
}

/** The TEE account (the policy's) and the readers: accounts an attested principal set may impersonate. */
function guardedAccounts(index: ResourceIndex, context: CheckContext): Guarded[] {
  return index.cached(`guarded-sas:${context.project ?? ""}`, () => {
    const out: Guarded[] = context.policy ? [{ sa: { email: platformNames(context.policy).teeSaEmail }, what: "the TEE service account" }] : [];
    for (const r of index.resources) {
      if (!r.type.startsWith("google_service_account_iam_")) continue;
      const target = r.config.service_account_id;
      const attested = iamDeclaration(r, index)?.bindings.some((b) => b.role === "roles/iam.workloadIdentityUser" && b.members.some((m) => m.kind === "attested"));
      if (attested && typeof target === "string") out.push({ sa: serviceAccountRef(target, index, context), what: "a stage-2 reader service account" });
    }
    return out;
  });
}

export const serviceAccountRights: Rule = {
  id: "MCR-IAM5",
  level: "error",
  title: "No token-creator, key-admin or actAs rights on the TEE or reader service accounts",
  resourceTypes: (type) => /^google_(service_account|project)_iam_(member|binding|policy)$/.test(type),
  check(resource, index, context) {
    const out: RuleResult[] = [];
    const launcher = context.policy ? serviceAccountRef(platformNames(context.policy).jobServiceSaEmail, index, context) : undefined;
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      const how = grantsRights(b);
      if (how === "no") continue;
      const reached =
        b.targetKind === "project"
          ? projectMatches(b.target, context)
            ? guardedAccounts(index, context)
            : []
          : typeof b.target === "string"
            ? guardedAccounts(index, context).filter((g) => sameServiceAccount(serviceAccountRef(b.target as string, index, context), g.sa))
            : [];
      for (const g of reached) {
        for (const m of b.members) {
          const sa = m.kind === "serviceAccount" ? serviceAccountRef(m.account ?? m.member, index, context) : undefined;
          const isLauncherActAs =
            g.what === "the TEE service account" && b.targetKind === "service_account" && b.role === "roles/iam.serviceAccountUser" && !!sa && !!launcher && sameServiceAccount(sa, launcher);
          if (isLauncherActAs) continue;
          out.push({
            level: how === "maybe" || m.kind === "unknown" ? "warning" : undefined,
            message: `${m.member} holds ${b.role ?? "an unresolved role"}${b.targetKind === "project" ? " on the whole project, which reaches" : " on"} ${g.what} ${g.sa.email ?? g.sa.address}: it could mint its tokens, make keys for it or run as it, and so reach what only attested workloads may. Remove the grant; only the job service may act as the TEE account, to launch job VMs.`,
          });
        }
      }
    }
    return out;
  },
};
