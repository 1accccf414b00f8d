/**
 * MCR-OUT4: the verifier writes no dataset bucket, except create-only under `provisioned/` of the
 * stage-1 bucket of a dataset that declares `provisioning` (where it releases that dataset's provisioning image's
 * output, `release.provisioning` of its policy document). A verifier that could write a stage-2
 * bucket, or the stage-1 bucket of a dataset nobody provisions, could put job results where
 * researchers or stage-1 users read them as that dataset's data; update or delete there could
 * replace what was released.
 */
import { COMPONENT } from "../../internal/common";
import { RoomFacts, bucketsReached, iamDeclaration, isBucketOrProjectIamType } from "../../analysis/iam";
import type { TfResource } from "../../analysis/resource-index";
import { componentOf, datasetOf } from "../../analysis/values";
import { provisionedReleaseCondition, verifierProvisioningDestinations } from "../../policy/document";
import { Rule, RuleResult } from "../model";
import { isOneOf, outputReleaseFacts, QUARANTINE_CREATE_ONLY, roleShown, storagePermissions, writes } from "../output-release";

const FIX =
  "The verifier holds only roles/storage.objectCreator, conditioned on provisioned/, on the stage-1 bucket of each dataset with provisioning (the data plane's grantProvisionedRelease), and nothing on any other dataset bucket. Remove the grant, or restore its condition.";

/** Dataset → the condition of the verifier's create grant on its stage-1 bucket; undefined without a policy. */
function provisioned(context: RoomFacts): ReadonlyMap<string, string> | undefined {
  if (!context.policy) return undefined;
  return new Map(verifierProvisioningDestinations(context.policy).map((p) => [p.dataset, provisionedReleaseCondition(p.stage1Bucket).expression]));
}

/** Why the verifier may not hold `perms` (under `condition`) on `bucket`; undefined when it may (or the bucket holds no dataset). */
function refusal(bucket: TfResource, perms: ReadonlySet<string>, condition: string | undefined, allowed: ReadonlyMap<string, string>): string | undefined {
  const component = componentOf(bucket);
  if (component !== COMPONENT.stage1Bucket && component !== COMPONENT.stage2Bucket) return undefined;
  const w = writes(perms);
  if (w.length === 0) return undefined;
  const dataset = datasetOf(bucket) ?? "(unlabelled)";
  const where = `the ${component === COMPONENT.stage1Bucket ? "stage-1" : "stage-2"} bucket of dataset ${dataset} (${bucket.address})`;
  if (component === COMPONENT.stage2Bucket) return `${where}, which allows ${w.join(", ")}: stage-2 data is never a release destination`;
  if (!allowed.has(dataset)) return `${where}, which allows ${w.join(", ")}: ${dataset} declares no provisioning, so nothing is ever released into its stage-1 bucket`;
  const extra = w.filter((p) => !QUARANTINE_CREATE_ONLY.has(p));
  if (extra.length > 0) return `${where}, which allows ${extra.join(", ")}: a provisioned release is create-only, nothing released is ever replaced`;
  const expected = allowed.get(dataset)!;
  if (condition !== expected) {
    return `${where} ${condition === undefined ? "without a condition" : `under the condition ${JSON.stringify(condition)}`}: a provisioned release creates objects under provisioned/ only, never beside the owner's stage-1 data (expected ${JSON.stringify(expected)})`;
  }
  return undefined;
}

export const outputVerifierDatasets: Rule = {
  id: "MCR-OUT4",
  level: "error",
  title: "The verifier writes no dataset bucket but, create-only, a provisioned dataset's stage-1 bucket",
  resourceTypes: isBucketOrProjectIamType,
  check(resource, index, context) {
    const facts = outputReleaseFacts(index, context);
    if (facts.verifier.length === 0) return [];
    const decl = iamDeclaration(resource, index);
    if (!decl) return [];
    const allowed = provisioned(context);
    const out: RuleResult[] = [];
    for (const b of decl.bindings) {
      const verifier = b.members.filter((m) => isOneOf(m, facts.verifier, index, context));
      if (verifier.length === 0) continue;
      const who = `The verifier's service account ${verifier.map((m) => m.member).join(", ")}`;
      const reach = bucketsReached(b, index, context);
      const datasetBuckets = reach.resources.filter((r) => componentOf(r) === COMPONENT.stage1Bucket || componentOf(r) === COMPONENT.stage2Bucket);
      if (reach.unresolved) {
        out.push({ level: "warning", message: `${who} holds ${roleShown(b)} on a bucket that cannot be resolved: whether it is a dataset bucket cannot be checked. ${FIX}` });
        continue;
      }
      if (datasetBuckets.length === 0) continue;
      const perms = storagePermissions(b);
      if (perms === undefined) {
        out.push({ level: "warning", message: `${who} holds ${roleShown(b)} on dataset buckets; its permissions cannot be read here, so create-only cannot be checked. ${FIX}` });
        continue;
      }
      if (allowed === undefined && writes(perms).length > 0) {
        out.push({ level: "warning", message: `${who} can write dataset buckets through ${roleShown(b)}, and without the room's policy it cannot be told which datasets declare provisioning. ${FIX}` });
        continue;
      }
      const projectLevel = b.targetKind === "project" ? " (a project-level grant)" : "";
      for (const bucket of datasetBuckets) {
        const why = refusal(bucket, perms, b.condition?.expression, allowed ?? new Map());
        if (why) out.push({ message: `${who} holds ${roleShown(b)}${projectLevel} on ${why}. ${FIX}` });
      }
    }
    return out;
  },
};
