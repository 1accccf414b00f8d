/**
 * MCR-IAM6: a data-guarding resource holds its IAM in exactly one authoritative policy
 * (lib/internal/grants.ts). Dataset, approver and storage keys, stage-2 and output buckets, the
 * TEE and reader service accounts each get one `*_iam_policy` with every binding the room compiles.
 * An `*_iam_member` or `*_iam_binding` beside it fights the policy on every apply (the policy
 * removes it, it comes back) and holds access the room file does not explain in between; a second
 * policy overwrites the first. Configurations that grant only additively (no policy on the target)
 * are left to the access rules (MCR-KMS1, MCR-GCS1, …), which read either form.
 */
import { Rule, RuleResult } from "../model";
import { ResourceIndex, TfResource } from "../../analysis/resource-index";

const IAM = /^google_(kms_crypto_key|storage_bucket|service_account)_iam_(member|binding|policy)$/;
const TARGET_FIELD: Readonly<Record<string, string>> = {
  kms_crypto_key: "crypto_key_id",
  storage_bucket: "bucket",
  service_account: "service_account_id",
};

/** The target of an IAM resource: the referenced resource's address, or its literal value. */
function targetOf(resource: TfResource, index: ResourceIndex): { key: string; resource?: TfResource } | undefined {
  const kind = IAM.exec(resource.type)?.[1];
  const value = kind ? resource.config[TARGET_FIELD[kind]] : undefined;
  const ref = index.target(value);
  if (ref) return { key: ref.resource.address, resource: ref.resource };
  return typeof value === "string" ? { key: `literal:${value}` } : undefined;
}

/** Every authoritative policy of the stack by target, in index order. */
function policiesByTarget(index: ResourceIndex): ReadonlyMap<string, readonly TfResource[]> {
  return index.cached("authoritative-iam:policies", () => {
    const byTarget = new Map<string, TfResource[]>();
    for (const kind of Object.keys(TARGET_FIELD)) {
      for (const policy of index.ofType(`google_${kind}_iam_policy`)) {
        const target = targetOf(policy, index);
        if (target) byTarget.set(target.key, [...(byTarget.get(target.key) ?? []), policy]);
      }
    }
    return byTarget;
  });
}

const FIX =
  "Grant through the construct that owns the resource (its grant* methods add the binding to the one policy), or remove this resource.";

export const authoritativeIam: Rule = {
  id: "MCR-IAM6",
  level: "error",
  title: "Data-guarding resources hold their IAM in one authoritative policy",
  resourceTypes: (type) => IAM.test(type),
  check(resource, index): RuleResult[] {
    const target = targetOf(resource, index);
    if (!target) return [];
    const what = target.resource?.address ?? target.key.replace(/^literal:/, "");
    const policies = policiesByTarget(index).get(target.key) ?? [];
    if (resource.type.endsWith("_iam_policy")) {
      if (policies.length < 2 || policies[0] === resource) return [];
      return [{ message: `${what} already has its authoritative policy ${policies[0].address}: a second one overwrites it on every apply. ${FIX}` }];
    }
    if (policies.length === 0) return [];
    return [
      {
        message:
          `${what} has its IAM in one authoritative policy (${policies[0].address}); this grant is outside it: every apply of ` +
          `the policy removes it and it comes back, holding access the room file does not explain. ${FIX}`,
      },
    ];
  },
};
