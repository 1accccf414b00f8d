/**
 * manatee-cdktf: a two-stage confidential data clean room (ManaTEE) on Google Cloud, as
 * CDK for Terraform constructs, compiled from one clean-room policy.
 */
// The policy model and its compilers (no cdktf): CEL condition, IAM members, verifier document, names.
export * from "./policy";
// lib/constructs/workloads/job-service/index.ts has a string-argument jobInstancePrefix too; the policy one is the shared derivation.
export { jobInstancePrefix } from "./policy";
export * from "./internal/common";

// Construct families, one per file, in the order a clean room is built.
export * from "./constructs/platform/apis";
export * from "./constructs/platform/network";
export * from "./constructs/platform/service-perimeter";
export * from "./constructs/platform/cluster";
export * from "./constructs/platform/database";
export * from "./constructs/platform/registry";
export * from "./constructs/data-plane/keys";
export * from "./constructs/data-plane/buckets";
export * from "./constructs/data-plane/workload-identity-pool";
export * from "./constructs/data-plane/confidential-space";
export * from "./constructs/data-plane/datasets";
export * from "./constructs/data-plane/output-release";
export * from "./constructs/workloads/job-service";
export * from "./constructs/workloads/jupyterhub";
export * from "./constructs/verifier";
export * from "./constructs/clean-room";
export * from "./constructs/clean-room-workloads";

// Guardrails and the auditor's report.
export * from "./checks";
export {
  renderAccessReport,
  writeAccessReport,
  readSynthesizedStacks,
  ACCESS_REPORT_FILE,
  buildAccessModel,
  DATA_PLANE_ROLES,
  crossCheck,
  readInfrastructure,
  parseSuppressions,
  accessDiagram,
} from "./report";
export type { AccessReportOptions, AccessModel, CrossCheckFinding, CrossCheckResult, SynthesizedStack, ReportSuppression } from "./report";
