/**
 * MCR-APV2: per-job approval is off for a dataset whose owners could use it. The dataset's
 * approver key exists (the first deploy creates it), but the room file names no
 * `approverKey.fingerprint`, so there is no job pool: the owners cannot approve jobs one by one,
 * and only standing approvals (digests in the room file) open the dataset (docs/job-path.md).
 *
 * A warning, not an error: nothing is exposed. It is the expected state between the first deploy
 * and the fingerprint being added, and a room may rely on standing approvals alone (suppress it
 * on the approver key, with the reason). Reported once per dataset, on its approver key
 * (`component: approver-key`); a dataset without owners has nobody who could sign, so it is not
 * reported. Needs the policy: without it, owners and fingerprints are unknown.
 */
import { COMPONENT } from "../../internal/common";
import { Rule } from "../model";
import { componentOf, datasetOf } from "../../analysis/values";

export const jobApprovalOff: Rule = {
  id: "MCR-APV2",
  level: "warning",
  title: "A dataset with owners names its approver key's fingerprint (per-job approval on)",
  resourceTypes: ["google_kms_crypto_key"],
  check(key, _index, context) {
    if (!context.policy || componentOf(key) !== COMPONENT.approverKey) return [];
    const name = datasetOf(key);
    const dataset = context.policy.datasets.find((d) => d.name === name);
    if (!dataset || dataset.owners.length === 0 || dataset.approverKey?.fingerprint !== undefined) return [];
    return [
      {
        message:
          `Per-job approval is off for dataset "${dataset.name}": the room file names no approverKey.fingerprint, so there is no job pool, ` +
          `its owners (${dataset.owners.join(", ")}) cannot approve jobs one by one, and only standing approvals open its stage-2 data. ` +
          `To turn it on: after the first deploy, run \`manatee jobs approver-key --dataset ${dataset.name}\`, put the fingerprint it prints in ` +
          `datasets.${dataset.name}.approverKey.fingerprint, and deploy.`,
      },
    ];
  },
};
