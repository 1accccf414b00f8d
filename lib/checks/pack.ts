/**
 * The clean-room rule pack, in the order findings are reported. Ids are stable API:
 * suppressions and CI logs refer to them.
 */
import { Rule, VALIDATION_FAILURE_ID } from "./model";
import { allowPolicyLimits } from "./rules/allow-policy-limits";
import { approvalDigest } from "./rules/approval-digest";
import { approvalExpiry } from "./rules/approval-expiry";
import { approverAccess } from "./rules/approver-access";
import { authoritativeIam } from "./rules/authoritative-iam";
import { bucketHardening } from "./rules/bucket-hardening";
import { bucketRetention } from "./rules/bucket-retention";
import { datasetKeyAccess } from "./rules/dataset-key-access";
import { dependencyGraph } from "./rules/dependency-graph";
import { gkeCluster } from "./rules/gke-cluster";
import { jobApprovalCondition } from "./rules/job-approval-condition";
import { jobApprovalOff } from "./rules/job-approval-off";
import { outputBypass } from "./rules/output-bypass";
import { outputQuarantineRead } from "./rules/output-quarantine-read";
import { outputTeeAccess } from "./rules/output-tee-access";
import { projectRoles } from "./rules/project-roles";
import { publicMembers } from "./rules/public-members";
import { residency } from "./rules/residency";
import { sqlPrivateIp } from "./rules/sql-private-ip";
import { stage2BucketRead } from "./rules/stage2-bucket-read";
import { teeInstance } from "./rules/tee-instance";
import { teeNetwork } from "./rules/tee-network";
import { wifCondition } from "./rules/wif-condition";

export const CLEAN_ROOM_RULES: readonly Rule[] = [
  datasetKeyAccess,
  stage2BucketRead,
  bucketHardening,
  bucketRetention,
  publicMembers,
  projectRoles,
  wifCondition,
  jobApprovalCondition,
  approverAccess,
  jobApprovalOff,
  teeInstance,
  teeNetwork,
  outputTeeAccess,
  outputQuarantineRead,
  outputBypass,
  residency,
  gkeCluster,
  sqlPrivateIp,
  approvalExpiry,
  approvalDigest,
  allowPolicyLimits,
  authoritativeIam,
  dependencyGraph,
];

/** Every id a suppression may name. */
export const SUPPRESSIBLE_IDS: readonly string[] = [...CLEAN_ROOM_RULES.map((r) => r.id), VALIDATION_FAILURE_ID];
