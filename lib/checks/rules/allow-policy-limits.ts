/**
 * MCR-IAM3: no allow policy is declared past Google's limits (lib/policy/iam-limits.ts, with
 * the documentation cited there). Google refuses such a policy only when Terraform sets it, half
 * way through an apply; counting the grants a stack declares per target catches it at synth.
 * CleanRoomDataPlane checks its own grants eagerly; this rule covers everyone else's too.
 */
import { IAM_POLICY_LIMITS } from "../../policy/iam-limits";
import { iamDeclaration, isIamResourceType } from "../../analysis/iam";
import { Rule, RuleResult } from "../model";
import { ResourceIndex, TfResource } from "../../analysis/resource-index";

interface TargetLoad {
  /** The first IAM resource on the target, where the finding is reported (once per target). */
  readonly first: string;
  readonly resources: number;
  principals: number;
  readonly groups: Set<string>;
  domains: number;
  /** `role|member` → distinct condition expressions. */
  readonly conditions: Map<string, Set<string>>;
}

/** Where a declaration applies, as written: the same target written differently is counted apart. */
function targetKey(resource: TfResource, index: ResourceIndex): string | undefined {
  const decl = iamDeclaration(resource, index);
  if (!decl || decl.target === undefined) return undefined;
  return `${resource.type.replace(/_iam_(member|binding|policy)$/, "")} ${typeof decl.target === "string" ? decl.target : JSON.stringify(decl.target)}`;
}

function loads(index: ResourceIndex): Map<string, TargetLoad> {
  return index.cached("allow-policy-loads", () => {
    const byTarget = new Map<string, TargetLoad>();
    for (const resource of index.resources) {
      if (!isIamResourceType(resource.type)) continue;
      const key = targetKey(resource, index);
      if (key === undefined) continue;
      let load = byTarget.get(key);
      if (!load) {
        load = { first: resource.address, resources: 0, principals: 0, groups: new Set(), domains: 0, conditions: new Map() };
        byTarget.set(key, load);
      }
      (load as { resources: number }).resources++;
      for (const binding of iamDeclaration(resource, index)!.bindings) {
        for (const m of binding.members) {
          load.principals++;
          if (m.member.startsWith("group:")) load.groups.add(m.member);
          if (m.member.startsWith("domain:")) load.domains++;
          const k = `${binding.role ?? JSON.stringify(binding.rawRole)}|${m.member}`;
          load.conditions.set(k, (load.conditions.get(k) ?? new Set()).add(binding.condition?.expression ?? ""));
        }
      }
    }
    return byTarget;
  });
}

const n = (value: number) => value.toLocaleString("en-US");

export const allowPolicyLimits: Rule = {
  id: "MCR-IAM3",
  level: "error",
  title: "No allow policy past Google's limits (1,500 principals, 250 groups, 20 conditions per role and principal)",
  resourceTypes: (type) => isIamResourceType(type),
  check(resource, index) {
    const key = targetKey(resource, index);
    const load = key === undefined ? undefined : loads(index).get(key);
    if (!load || load.first !== resource.address) return [];
    const { principalsPerPolicy, groupsAndDomainsPerPolicy, bindingsPerRoleAndPrincipal } = IAM_POLICY_LIMITS;
    const target = key!.slice(key!.indexOf(" ") + 1);
    const across = `across ${n(load.resources)} IAM resource${load.resources === 1 ? "" : "s"} on ${target}`;
    const out: RuleResult[] = [];
    if (load.principals > principalsPerPolicy) {
      out.push({
        message:
          `The allow policy would hold ${n(load.principals)} principals ${across}, over Google's limit of ${n(principalsPerPolicy)} ` +
          `per allow policy (each occurrence counts). Grant a Google group instead of its members, or spread the grants over ` +
          `several resources (for a dataset: access: impersonation splits approved images between reader service accounts).`,
      });
    }
    const groups = load.groups.size + load.domains;
    if (groups > groupsAndDomainsPerPolicy) {
      out.push({
        message: `The allow policy would hold ${n(groups)} Google groups and domains ${across}, over Google's limit of ${n(groupsAndDomainsPerPolicy)}. Nest them in fewer groups.`,
      });
    }
    for (const [roleMember, conditions] of load.conditions) {
      if (conditions.size <= bindingsPerRoleAndPrincipal) continue;
      const [role, member] = roleMember.split("|");
      out.push({
        message:
          `${member} holds ${role} under ${n(conditions.size)} different conditions ${across}, over Google's limit of ` +
          `${bindingsPerRoleAndPrincipal} role bindings with the same role and principal. Keep one condition per role (the widest).`,
      });
    }
    return out;
  },
};
