/** Approvals of images for datasets, including those compiled from datasets' `provisioning`. */
import type { ApprovalGpuMode } from "./tee";
import type { DatasetInput, PrivacyBudget } from "./datasets";
import type { CleanRoomPolicy } from "./room";
import { STAGE1_PROVISIONING_PURPOSE } from "./datasets";

export interface Approval {
  /** `sha256:` followed by 64 lowercase hex digits. */
  readonly imageDigest: string;
  /** Dataset names this image may read in stage 2. */
  readonly datasets: readonly string[];
  readonly purpose: string;
  readonly approvedBy: string;
  /** Last day (ISO date, UTC) on which the approval holds; absent = no expiry. */
  readonly expires?: string;
  /**
   * `tee-env-*` names the job service must set when it launches this image (e.g. ManaTEE's
   * `EXECUTION_STAGE`). The data pool's condition then admits this digest with exactly these
   * names overridden; every other image, and any `tee-cmd`, stays refused.
   * @default - none: no environment override for this image
   */
  readonly allowedEnv?: readonly string[];
  /**
   * The consortium party that gave this approval; it names only that party's datasets.
   * @default - none: a single-project room
   */
  readonly party?: string;
  /**
   * What each output release this approval grants spends of each named dataset's `budget`.
   * @default - none: no charge (the approval is not a DP release)
   */
  readonly spend?: PrivacyBudget;
  /**
   * `required`: the image runs only on a confidential GPU in CC mode; `allowed`: CPU, or a GPU in
   * CC mode; `none`: CPU only, a token with GPU claims is refused (docs/gpu.md).
   * @default "none"
   */
  readonly gpu?: ApprovalGpuMode;
}

/**
 * The standing approval of each dataset's provisioning image: that dataset only, purpose
 * `stage1-provisioning`, spending the dataset's stage-1 epsilon and delta (dp-synthetic).
 */
export function provisioningApprovals(datasets: Readonly<Record<string, DatasetInput>>): Approval[] {
  return Object.entries(datasets)
    .filter(([, d]) => d.provisioning !== undefined)
    .map(([name, d]) => {
      const s = d.stage1;
      const spend = s.kind === "dp-synthetic" && s.epsilon !== undefined ? { epsilon: s.epsilon, ...(s.delta !== undefined ? { delta: s.delta } : {}) } : undefined;
      return {
        imageDigest: d.provisioning!.imageDigest,
        datasets: [name],
        purpose: STAGE1_PROVISIONING_PURPOSE,
        approvedBy: d.provisioning!.approvedBy,
        ...(spend ? { spend } : {}),
      };
    });
}

/** Approvals that name `dataset`, in policy order. */
export function approvalsFor(policy: CleanRoomPolicy, dataset: string): Approval[] {
  // Indexed once per policy object: a room with many datasets and approvals asks per dataset.
  let byDataset = APPROVALS_BY_DATASET.get(policy);
  if (!byDataset) {
    byDataset = new Map<string, Approval[]>();
    for (const approval of policy.approvals) {
      for (const name of new Set(approval.datasets)) {
        const list = byDataset.get(name) ?? [];
        list.push(approval);
        byDataset.set(name, list);
      }
    }
    APPROVALS_BY_DATASET.set(policy, byDataset);
  }
  return [...(byDataset.get(dataset) ?? [])];
}

const APPROVALS_BY_DATASET = new WeakMap<CleanRoomPolicy, Map<string, Approval[]>>();
