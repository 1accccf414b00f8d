/**
 * MCR-APR2: approvals name images by their full digest, `sha256:` + 64 lowercase hex.
 * Tokens carry exactly that form, so anything else (a short digest, a tag, upper case)
 * never matches: the approval the data owner signed is not the one enforced.
 */
import { isConfidentialSpaceProvider } from "../../analysis/confidential-space";
import { iamDeclaration, isIamResourceType } from "../../analysis/iam";
import { Rule, RuleResult } from "../model";
import { FULL_DIGEST } from "../../analysis/principals";
import { isUnresolved } from "../../analysis/resource-index";

const FIX = "Use the full digest, sha256: followed by 64 lowercase hex digits (docker buildx imagetools inspect <image> prints it).";

export const approvalDigest: Rule = {
  id: "MCR-APR2",
  level: "error",
  title: "Approved image digests are full sha256 digests",
  resourceTypes: (type) => isIamResourceType(type) || type === "google_iam_workload_identity_pool_provider",
  check(resource, index, context) {
    const out: RuleResult[] = [];
    if (resource.type === "google_iam_workload_identity_pool_provider") {
      if (isConfidentialSpaceProvider(resource) !== "yes") return [];
      for (const a of context.policy?.approvals ?? []) {
        if (!FULL_DIGEST.test(a.imageDigest)) out.push({ message: `The policy approves "${a.imageDigest}" for [${a.datasets.join(", ")}], which is not a full image digest. ${FIX}` });
      }
      return out;
    }
    for (const b of iamDeclaration(resource, index)?.bindings ?? []) {
      for (const m of b.members) {
        if (m.kind !== "attested" || m.digest === undefined) continue;
        if (isUnresolved(m.digest)) {
          out.push({ level: "info", message: `Skipped: the image digest of ${m.member} is an expression.` });
        } else if (!FULL_DIGEST.test(m.digest)) {
          out.push({ message: `${m.member} names the image "${m.digest}", which is not a full digest, so no attestation token will ever match it. ${FIX}` });
        }
      }
    }
    return out;
  },
};
