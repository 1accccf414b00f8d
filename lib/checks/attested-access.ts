/**
 * The clean room's central invariant, shared by the dataset-key and stage-2 bucket
 * rules: only attested principals (the principal sets of images approved for the
 * dataset, or a reader service account only they can impersonate) may use the data.
 */
import { approvedDigests, datasetOwners, IamBinding, iamDeclaration, IamTarget, isCustomRole, notAttestedReader, permissionsReachData, Reach, serviceAccountRef } from "../analysis/iam";
import { undeclaredPool } from "../analysis/declared-pools";
import { CheckContext, FindingLevel, RuleResult } from "./model";
import { describeKind, Principal } from "../analysis/principals";
import { ResourceIndex, TfResource } from "../analysis/resource-index";
import { datasetOf } from "../analysis/values";
import { dataPlaneNames } from "../policy/names";

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
    case "attested": {
      const foreign = undeclaredPool(member, index, context);
      if (foreign) return { ok: false, why: `the principal set is not attested by the room: ${foreign}` };
      if (member.group !== undefined) return judgeJobGroup(member, dataset, context);
      if (approved && member.digest && !member.digest.includes("${") && !approved.has(member.digest)) {
        return { ok: false, why: `image digest ${member.digest} is not approved for dataset "${dataset}" in the policy` };
      }
      return { ok: true };
    }
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
 * The `job-approved` group of a job pool: only the pool of this dataset (whose provider requires
 * the dataset's approver key, MCR-WIF2) may hold the dataset's grants, and only once the policy
 * names the key's fingerprint. Without a policy the pool cannot be matched to a dataset.
 */
function judgeJobGroup(member: Principal, dataset: string | undefined, context: CheckContext): AccessVerdict {
  const policy = context.policy;
  if (!policy || !dataset) return { ok: true };
  const d = policy.datasets.find((x) => x.name === dataset);
  const expected = dataPlaneNames(policy).jobPoolId(dataset);
  if (member.pool !== undefined && member.pool !== expected) {
    return { ok: false, why: `the job pool ${member.pool} is not dataset "${dataset}"'s (${expected}): another dataset's approvals would open this one` };
  }
  if (!d?.approverKey) {
    return { ok: false, why: `dataset "${dataset}" has no approverKey.fingerprint in the policy, so no job pool may hold its grants` };
  }
  return { ok: true };
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

/** What an attested-only rule protects and how it judges grants (MCR-KMS1, MCR-GCS1). */
export interface AttestedOnlySpec {
  /** The protected resource, in findings: "dataset key". */
  readonly what: string;
  /** The same, in the warning for IAM declarations that cannot be read. */
  readonly opaqueWhat: string;
  /** The protected resources of this kind that a grant reaches (resource, ring or project level). */
  readonly reached: (target: IamTarget, index: ResourceIndex, context: CheckContext) => Reach;
  readonly isProtected: (r: TfResource) => boolean;
  /** Whether a predefined role gives access (custom roles are judged by their permissions). */
  readonly grantsAccess: (role: string) => boolean;
  readonly fix: string;
  /** The one role the dataset's declared owners may hold. */
  readonly ownerRole?: string;
}

/** The `check` of an attested-only rule: every member of every binding judged against what it reaches. */
export function attestedOnlyCheck(spec: AttestedOnlySpec): (resource: TfResource, index: ResourceIndex, context: CheckContext) => RuleResult[] {
  return (resource, index, context) => {
    const decl = iamDeclaration(resource, index);
    if (!decl) return [];
    if (decl.opaque) {
      return spec.reached(decl, index, context).resources.some(spec.isProtected)
        ? [
            {
              level: "warning",
              message: `Cannot read the grants of ${resource.address} (${decl.opaque}), which reaches ${spec.opaqueWhat}. Use a literal policy or a google_iam_policy data source so the grants can be checked.`,
            },
          ]
        : [];
    }
    return decl.bindings.flatMap((binding) => attestedOnlyResults(binding, spec.reached(binding, index, context), spec, index, context));
  };
}

/** Judge every member of a binding against the attested-only resources it reaches; one result per offending member. */
function attestedOnlyResults(binding: IamBinding, reach: Reach, spec: AttestedOnlySpec, index: ResourceIndex, context: CheckContext): RuleResult[] {
  const { isProtected, what, grantsAccess, fix, ownerRole } = spec;
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
