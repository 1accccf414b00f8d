/**
 * The clean room's central invariant, shared by the dataset-key and stage-2 bucket
 * rules: only attested principals (the principal sets of images approved for the
 * dataset, or a reader service account only they can impersonate) may use the data.
 */
import { approvedDigests, datasetOwners, IamBinding, isCustomRole, notAttestedReader, permissionsReachData, Reach, serviceAccountRef } from "./iam";
import { CheckContext, FindingLevel, RuleResult } from "./model";
import { describeKind, Principal } from "./principals";
import { ResourceIndex, TfResource } from "./resource-index";
import { datasetOf } from "./values";

export interface AccessVerdict {
  readonly ok: boolean;
  readonly why?: string;
  /** `warning` when the rule cannot tell (unresolved member or role). */
  readonly level?: FindingLevel;
}

/**
 * Whether `member` may hold `role` on a resource of `dataset`. `ownerRole` is the one
 * role the dataset's declared owners may hold (encrypt-only on a dataset key).
 */
export function judgeMember(
  member: Principal,
  role: string | undefined,
  dataset: string | undefined,
  index: ResourceIndex,
  context: CheckContext,
  ownerRole?: string,
): AccessVerdict {
  const approved = approvedDigests(context, dataset);
  switch (member.kind) {
    case "attested":
      if (approved && member.digest && !member.digest.includes("${") && !approved.has(member.digest)) {
        return { ok: false, why: `image digest ${member.digest} is not approved for dataset "${dataset}" in the policy` };
      }
      return { ok: true };
    case "serviceAccount": {
      const why = notAttestedReader(serviceAccountRef(member.account ?? member.member, index, context), index, context, approved);
      return why ? { ok: false, why: `service account ${member.member} is not an attested-only dataset reader: ${why}` } : { ok: true };
    }
    case "unknown":
      return { ok: false, level: "warning", why: `cannot tell who ${member.member} is (an unresolved expression)` };
    default:
      if (ownerRole && role === ownerRole && datasetOwners(context, dataset).includes(member.member)) return { ok: true };
      return { ok: false, why: `${member.member} is a ${describeKind(member)}` };
  }
}

/**
 * Classify a role: `use` grants data access, `unknown` may (custom or unresolved), `none`
 * does not. A custom role declared in the stack is judged by its permissions.
 */
export function roleUse(
  role: string | undefined,
  grantsAccess: (role: string) => boolean,
  permissions?: readonly string[],
): "use" | "unknown" | "none" {
  if (permissions) return permissionsReachData(permissions) ? "use" : "none";
  if (role === undefined || isCustomRole(role)) return "unknown";
  return grantsAccess(role) ? "use" : "none";
}

/**
 * Judge every member of a binding against the attested-only resources it reaches and
 * return one result per offending member.
 */
export function attestedOnlyResults(
  binding: IamBinding,
  reach: Reach,
  isProtected: (r: TfResource) => boolean,
  what: string,
  grantsAccess: (role: string) => boolean,
  index: ResourceIndex,
  context: CheckContext,
  fix: string,
  ownerRole?: string,
): RuleResult[] {
  const use = roleUse(binding.role, grantsAccess, binding.permissions);
  if (use === "none") return [];
  const roleText = binding.role ?? `the unresolved role ${JSON.stringify(binding.rawRole)}`;
  const protectedTargets = reach.resources.filter(isProtected);
  const results: RuleResult[] = [];
  if (reach.unresolved && binding.members.some((m) => m.kind !== "attested")) {
    results.push({
      level: "info",
      message: `Skipped: the target ${JSON.stringify(binding.target)} is not a resource of this stack, so whether it is a ${what} cannot be checked.`,
    });
  }
  if (protectedTargets.length === 0) return results;
  const via =
    binding.targetKind === "key_ring" || binding.targetKind === "project"
      ? ` through ${binding.targetKind === "project" ? "the project" : "the key ring"}, which reaches`
      : " on";
  for (const member of binding.members) {
    const failures = protectedTargets
      .map((t) => ({ t, v: judgeMember(member, binding.role, datasetOf(t), index, context, ownerRole) }))
      .filter((x) => !x.v.ok);
    if (failures.length === 0) continue;
    const targets = failures.map((f) => `${f.t.address}${datasetOf(f.t) ? ` (dataset "${datasetOf(f.t)}")` : ""}`).join(", ");
    const uncertain = use === "unknown" || failures.every((f) => f.v.level === "warning");
    const roleNote = use === "unknown" ? ` (cannot tell whether ${roleText} grants access)` : "";
    results.push({
      level: uncertain ? "warning" : undefined,
      message: `${member.member} holds ${roleText}${via} ${what} ${targets}: ${failures[0].v.why}${roleNote}. ${fix}`,
    });
  }
  return results;
}
