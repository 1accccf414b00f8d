/**
 * MCR-APR1: no approval or approval-bound grant has expired. An expired approval is
 * inert (IAM and the verifier both refuse it), so this is a warning: it is stale policy
 * that misleads a reviewer about who may read the data, not a leak.
 */
import { approvalEnd } from "../../policy/members";
import { isConfidentialSpaceProvider } from "../../analysis/confidential-space";
import { iamDeclaration, isIamResourceType } from "../../analysis/iam";
import { Rule, RuleResult } from "../model";

const TIME_BOUND = /request\.time\s*<=?\s*timestamp\(\s*["']([^"']+)["']\s*\)/g;

export const approvalExpiry: Rule = {
  id: "MCR-APR1",
  level: "warning",
  title: "No expired approvals or approval-bound grants",
  resourceTypes: (type) => isIamResourceType(type) || type === "google_iam_workload_identity_pool_provider",
  check(resource, index, context) {
    const out: RuleResult[] = [];
    const now = context.now.getTime();
    if (resource.type === "google_iam_workload_identity_pool_provider") {
      // The policy's approvals are reported once, on the room's attestation gate.
      if (isConfidentialSpaceProvider(resource) !== "yes") return [];
      for (const a of context.policy?.approvals ?? []) {
        if (a.expires && Date.parse(approvalEnd(a.expires)) <= now) {
          out.push({
            message: `The approval of ${a.imageDigest} for [${a.datasets.join(", ")}] ("${a.purpose}", approved by ${a.approvedBy}) expired at the end of ${a.expires}. Remove it from the policy, or renew it with a new expiry.`,
          });
        }
      }
      return out;
    }
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      const expression = b.condition?.expression;
      if (!expression) continue;
      for (const m of expression.matchAll(TIME_BOUND)) {
        const end = Date.parse(m[1]);
        if (!Number.isNaN(end) && end <= now) {
          out.push({
            message: `The grant of ${b.role ?? "a role"} to ${b.members.map((x) => x.member).join(", ")} is conditioned on request.time < ${m[1]}, which has passed: the grant is inert. Remove it (and its approval) from the configuration.`,
          });
        }
      }
    }
    return out;
  },
};
