/**
 * MCR-IAM2: clean-room identities never hold storage, KMS, owner or editor roles on
 * the whole project. A project-level role reaches every bucket and key of the room,
 * across datasets and stages, and silently widens with every dataset added.
 */
import { iamDeclaration, serviceAccountRef } from "../../analysis/iam";
import { CheckContext, Rule, RuleResult } from "../model";
import { Principal } from "../../analysis/principals";
import { ResourceIndex } from "../../analysis/resource-index";

export function isProjectWideDataRole(role: string): boolean {
  return /^roles\/(storage|cloudkms)\./.test(role) || role === "roles/owner" || role === "roles/editor";
}

/** Why a member is a clean-room identity, or undefined when it is not one. */
function cleanRoomIdentity(m: Principal, index: ResourceIndex, context: CheckContext): string | undefined {
  switch (m.kind) {
    case "serviceAccount": {
      const sa = serviceAccountRef(m.account ?? m.member, index, context);
      if (sa.address) return `the service account ${sa.address} created in this stack`;
      if (context.project && sa.email?.endsWith(`@${context.project}.iam.gserviceaccount.com`)) {
        return `a service account of the room's project ${context.project}`;
      }
      return undefined;
    }
    case "attested":
    case "pool":
      return "a principal set of the room's workload identity pool";
    case "federated": {
      const ksa = /^serviceAccount:([^[]+)\.svc\.id\.goog\[/.exec(m.member);
      if (ksa) return !context.project || ksa[1] === context.project || ksa[1].includes("${") ? "a Kubernetes service account of the room's cluster" : undefined;
      return /workloadIdentityPools\//.test(m.member) ? "a federated principal of the room's workload identity pool" : undefined;
    }
    default:
      return undefined;
  }
}

export const projectRoles: Rule = {
  id: "MCR-IAM2",
  level: "error",
  title: "No project-level storage, KMS, owner or editor role for clean-room identities",
  resourceTypes: ["google_project_iam_member", "google_project_iam_binding", "google_project_iam_policy"],
  check(resource, index, context) {
    const out: RuleResult[] = [];
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      if (b.role === undefined || !isProjectWideDataRole(b.role)) continue;
      for (const m of b.members) {
        const who = cleanRoomIdentity(m, index, context);
        if (!who) continue;
        out.push({
          message: `${m.member} (${who}) holds ${b.role} on the whole project: it reaches every bucket and key of the room, across datasets and stages. Grant the role on the one bucket or key it needs (google_storage_bucket_iam_member / google_kms_crypto_key_iam_member) instead.`,
        });
      }
    }
    return out;
  },
};
