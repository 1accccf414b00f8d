/**
 * manatee-cdktf: a two-stage confidential data clean room (ManaTEE) on Google Cloud, as
 * CDK for Terraform constructs, compiled from one clean-room policy.
 */
// The policy model and its compilers (no cdktf): CEL condition, IAM members, verifier document, names.
export * from "./policy";
// lib/job-service.ts has a string-argument jobInstancePrefix too; the policy one is the shared derivation.
export { jobInstancePrefix } from "./policy";
export * from "./common";

// Construct families, one per file, in the order a clean room is built.
export * from "./apis";
export * from "./network";
export * from "./service-perimeter";
export * from "./cluster";
export * from "./database";
export * from "./registry";
export * from "./kms";
export * from "./storage";
export * from "./workload-identity";
export * from "./confidential-space";
export * from "./data-plane";
export * from "./outputs";
export * from "./job-service";
export * from "./jupyterhub";
export * from "./verifier";
export * from "./clean-room";
export * from "./clean-room-workloads";

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
