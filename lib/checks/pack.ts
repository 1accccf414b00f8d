/**
 * The clean-room rule pack, in the order findings are reported. Ids are stable API:
 * suppressions and CI logs refer to them.
 */
import { Rule, VALIDATION_FAILURE_ID } from "./model";
import { allowPolicyLimits } from "./rules/allow-policy-limits";
import { approvalDigest } from "./rules/approval-digest";
import { approvalExpiry } from "./rules/approval-expiry";
import { adminRoles } from "./rules/admin-roles";
import { approverAccess } from "./rules/approver-access";
import { auditRetention } from "./rules/audit-retention";
import { auditRetentionLocked, auditSinkPinned } from "./rules/audit-trail";
import { bucketCmek } from "./rules/bucket-cmek";
import { bucketPublicAccess } from "./rules/bucket-public-access";
import { authoritativeIam } from "./rules/authoritative-iam";
import { bucketRetention } from "./rules/bucket-retention";
import { bucketSoftDelete } from "./rules/bucket-soft-delete";
import { bucketUniformAccess } from "./rules/bucket-uniform-access";
import { dataPoolPinned, dataPoolSingleProvider } from "./rules/data-pool";
import { datasetKeyAccess } from "./rules/dataset-key-access";
import { buildIdentitySeparate, executorBasePinned, launcherScoped } from "./rules/job-service-scope";
import { dependencyGraph } from "./rules/dependency-graph";
import { gkeCluster } from "./rules/gke-cluster";
import { gpuConfidential, gpuDebugImage, gpuResidency } from "./rules/gpu-template";
import { gkePrivateNodes } from "./rules/gke-private-nodes";
import { jobApprovalCondition } from "./rules/job-approval-condition";
import { jobApprovalOff } from "./rules/job-approval-off";
import { outputBypass } from "./rules/output-bypass";
import { outputQuarantineRead } from "./rules/output-quarantine-read";
import { outputTeeAccess } from "./rules/output-tee-access";
import { outputVerifierDatasets } from "./rules/output-verifier-datasets";
import { partyProviderPinned } from "./rules/party-pool";
import { partyResourcesOwnStack, partyStackMembers } from "./rules/party-stacks";
import { projectRoles } from "./rules/project-roles";
import { provisioningPublisher, provisioningRead, provisioningSubscriber, provisioningWrite } from "./rules/provisioning";
import { publicMembers } from "./rules/public-members";
import { receiptKeySigners } from "./rules/receipt-key";
import { residency } from "./rules/residency";
import { serviceAccountRights } from "./rules/sa-rights";
import { sqlPrivateIp } from "./rules/sql-private-ip";
import { stage2BucketRead } from "./rules/stage2-bucket-read";
import { teeConfidentialCompute, teeInstance, teeSecureBoot } from "./rules/tee-instance";
import { teeNetwork } from "./rules/tee-network";
import { wifCondition } from "./rules/wif-condition";

export const CLEAN_ROOM_RULES: readonly Rule[] = [
  datasetKeyAccess,
  stage2BucketRead,
  bucketCmek,
  bucketUniformAccess,
  bucketPublicAccess,
  bucketRetention,
  bucketSoftDelete,
  auditRetention,
  auditRetentionLocked,
  auditSinkPinned,
  publicMembers,
  projectRoles,
  adminRoles,
  serviceAccountRights,
  receiptKeySigners,
  wifCondition,
  dataPoolSingleProvider,
  dataPoolPinned,
  partyStackMembers,
  partyResourcesOwnStack,
  partyProviderPinned,
  jobApprovalCondition,
  approverAccess,
  jobApprovalOff,
  launcherScoped,
  executorBasePinned,
  buildIdentitySeparate,
  teeInstance,
  teeConfidentialCompute,
  teeSecureBoot,
  gpuConfidential,
  gpuDebugImage,
  gpuResidency,
  teeNetwork,
  outputTeeAccess,
  outputQuarantineRead,
  outputBypass,
  outputVerifierDatasets,
  provisioningWrite,
  provisioningRead,
  provisioningPublisher,
  provisioningSubscriber,
  residency,
  gkeCluster,
  gkePrivateNodes,
  sqlPrivateIp,
  approvalExpiry,
  approvalDigest,
  allowPolicyLimits,
  authoritativeIam,
  dependencyGraph,
];

/** Every id a suppression may name. */
export const SUPPRESSIBLE_IDS: readonly string[] = [...CLEAN_ROOM_RULES.map((r) => r.id), VALIDATION_FAILURE_ID];
