/**
 * manatee-cdktf: a two-stage confidential data clean room (ManaTEE) on Google Cloud, as
 * CDK for Terraform constructs, compiled from one clean-room policy.
 *
 * The package root is the public API, listed by hand: what a platform team uses to build,
 * check and audit a room. Nothing is re-exported with `export *`, so a helper added to a
 * module never becomes public by accident (test/public-api.test.ts snapshots this list;
 * changing it is a deliberate API change). lib/internal/ is not reachable from here except
 * for the few types public signatures name. Layers and import rules: docs/architecture.md.
 */

// ---------------------------------------------------------------------------------------
// Errors: one base class with a stable `code` (lib/errors.ts); policy errors extend it.
// ---------------------------------------------------------------------------------------
export {
  ERROR_CODES,
  ManateeError,
  InvalidPropsError,
  InvalidInputError,
  LimitExceededError,
  UnresolvedTokenError,
  UsageError,
  ExternalError,
  InternalError,
  isManateeError,
} from "./errors";
export type { ErrorCode, ManateeErrorOptions } from "./errors";

// ---------------------------------------------------------------------------------------
// The policy: one room file, loaded, normalized and validated; no cdktf (lib/policy).
// ---------------------------------------------------------------------------------------
export { loadPolicyFile, parsePolicy } from "./policy/load";
export type { ParsePolicyOptions } from "./policy/load";
export { normalizePolicy } from "./policy/model";
export { validatePolicy, validatePolicyInput, assertValidPolicy, PolicyError } from "./policy/validate";
export type { PolicyIssue, PolicyPath, SourcePosition, ValidateOptions, PolicyLocator } from "./policy/validate";
export type {
  CleanRoomPolicy,
  CleanRoomPolicyInput,
  DatasetPolicy,
  Stage1Policy,
  Stage1Kind,
  AccessMode,
  Approval,
  ApproverKeyPolicy,
  JobsPolicy,
  TeePolicy,
  TeeHardware,
  GpuPolicy,
  GpuProvisioningModel,
  ApprovalGpuMode,
  VerifierPolicy,
  LocationSettings,
  ClusterSettings,
  AuthorizedNetworkSettings,
  DatabaseSettings,
  StateBackendPolicy,
  VpcServiceControlsSettings,
  JupyterHubSettings,
  JupyterHubSettingsInput,
  JupyterHubEgress,
  JupyterHubExposureType,
  JupyterHubAuthenticatorType,
  JupyterHubAuthenticatorInput,
  JupyterHubAuthenticatorSettings,
  OAuthClientSettings,
  GoogleAuthenticatorSettings,
  GitHubAuthenticatorSettings,
  GenericOAuthAuthenticatorSettings,
  DummyAuthenticatorSettings,
  AuditPolicy,
  PartyPolicy,
  PartyApprovalsJwk,
  PrivacyBudget,
  ProvisioningPolicy,
  PartyInput,
  DatasetInput,
} from "./policy/model";
export { partiesOf, isConsortium, partyOf, projectOfDataset, datasetsOfParty, approvalsOfParty } from "./policy/consortium";

// Compilers: what the policy becomes (the CEL condition, IAM members, the verifier's
// document, Google-limit checks, resource names). Constructs call these; so may you.
export {
  attributeConditionClauses,
  compileAttributeCondition,
  compileJobApprovalCondition,
  AttributeConditionTooLongError,
  JobApprovalConditionError,
  compilePartyAttributeCondition,
  partyAttributeConditionClauses,
} from "./policy/condition";
export type { ConditionClause } from "./policy/condition";
export { datasetMembers, principalSetForDigest, expiryCondition } from "./policy/members";
export type { DatasetMember, IamCondition, PoolRef } from "./policy/members";
export { compileVerifierPolicy, partyApprovalsPayload, PARTY_APPROVALS_JWS_TYPE, PARTY_APPROVALS_JWS_ALGORITHM } from "./policy/document";
export type {
  CompiledVerifierPolicy,
  VerifierPolicyDocument,
  VerifierApproval,
  VerifierJobApproval,
  VerifierBudget,
  VerifierReleaseSettings,
  VerifierProvisioningDestination,
  VerifierParty,
} from "./policy/document";
export { assertWithinIamLimits, iamLimitViolations, IAM_POLICY_LIMITS, IamPolicyLimitError } from "./policy/iam-limits";
export type { DatasetIamLoad, AllowPolicyLoad, DatasetPolicyResource } from "./policy/iam-limits";
export { JobServiceConfigCompileError } from "./policy/job-service-config";
export { platformNames, dataPlaneNames, jobPathNames, outputReleaseNames, jobInstancePrefix } from "./policy/names";
export type { DataPlaneNames } from "./policy/names";
export type { DatasetBucketPurpose } from "./policy/names";
export { partyDataPlaneNames, dataPlaneNamesOf, operatorFacts, requireParty, partyPoolId, partyStackName } from "./policy/party-names";
export type { OperatorFacts } from "./policy/party-names";

// ---------------------------------------------------------------------------------------
// What every construct takes: the room (a CleanRoomPolicy satisfies CleanRoomRef), grant
// options, and the label contract the guardrails read (label your own resources with it).
// They live in lib/internal/common.ts beside helpers that stay private.
// ---------------------------------------------------------------------------------------
export { CLEAN_ROOM_LABEL, COMPONENT, cleanRoomLabels } from "./internal/common";
export type { CleanRoomRef, CleanRoomIdentity, GrantOptions, ComponentLabel } from "./internal/common";

// ---------------------------------------------------------------------------------------
// The room, composed: the platform stack's CleanRoom and the workloads stack's
// CleanRoomWorkloads (lib/constructs/clean-room*.ts).
// ---------------------------------------------------------------------------------------
export { CleanRoom } from "./constructs/clean-room";
export type { CleanRoomProps } from "./constructs/clean-room";
export type { CleanRoomWorkloadsProps, CleanRoomImageSources, ReleaseBuckets } from "./constructs/clean-room-workloads";
// What a composing stack reads from the room (the values the Terraform outputs hold).
export type { CleanRoomOutputs, CleanRoomWorkloadsOutputs, PartyDataPlaneOutputs, DatasetOutputs } from "./constructs/outputs";

// ---------------------------------------------------------------------------------------
// Platform: APIs, network, perimeter, cluster, job state, registries (lib/constructs/platform).
// ---------------------------------------------------------------------------------------
export { CleanRoomApis } from "./constructs/platform/apis";
export type { CleanRoomApisProps, CleanRoomApi } from "./constructs/platform/apis";
export { CleanRoomNetwork, DEFAULT_IP_RANGES } from "./constructs/platform/network";
export type {
  CleanRoomNetworkProps,
  FlowLogOptions,
  EgressMode,
  EgressOptions,
  NetworkIpRanges,
  GoogleApiAccess,
} from "./constructs/platform/network";
export { CleanRoomServicePerimeter } from "./constructs/platform/service-perimeter";
export type { CleanRoomServicePerimeterProps } from "./constructs/platform/service-perimeter";
export { CleanRoomCluster } from "./constructs/platform/cluster";
export type {
  CleanRoomClusterProps,
  ClusterEncryption,
  ClusterNetworkRef,
  RepositoryRef,
  NodePoolOptions,
  GpuPoolOptions,
  GpuAccelerator,
  ConfidentialNodeType,
  ControlPlaneAccess,
  AuthorizedNetwork,
  KubernetesConnection,
} from "./constructs/platform/cluster";
export { JobStateStore, JobDatabase } from "./constructs/platform/database";
export type {
  JobStateStoreProps,
  FirestoreCompositeIndex,
  JobDatabaseProps,
  BackupOptions,
  DatabaseNetworkRef,
  MySqlVersion,
} from "./constructs/platform/database";
export { ImageRegistry, DockerRepository, DeployImageBuilder, ContainerImageBuild } from "./constructs/platform/registry";
export type {
  ImageRegistryProps,
  UserImagesOptions,
  VersionedImagesOptions,
  RepositoryOptions,
  DeployImageBuilderProps,
  ContainerImageBuildProps,
} from "./constructs/platform/registry";

// ---------------------------------------------------------------------------------------
// Data plane: keys, buckets, the workload identity pool, the TEE template, datasets,
// output release (lib/constructs/data-plane).
// ---------------------------------------------------------------------------------------
// A TerraformStack that synthesizes large rooms in linear time (the ready stacks extend it).
export { FastResolveStack } from "./constructs/fast-resolve-stack";

// Grants: every grant* returns an IamGrant; data-guarding resources hold one authoritative policy.
export { AuthoritativeIamPolicy } from "./constructs/iam-grants";
export type { IamGrant, IamBindingSpec, AuthoritativeIamPolicyProps, AuthoritativeTarget, PolicyResource } from "./constructs/iam-grants";
export { AttestationBoundKey, StorageEncryptionKey, ApproverKey } from "./constructs/data-plane/keys";
export type {
  AttestationBoundKeyProps,
  StorageEncryptionKeyProps,
  ApproverKeyProps,
  CleanRoomKeyProps,
  KeyProtectionLevel,
} from "./constructs/data-plane/keys";
export { CleanRoomBucket } from "./constructs/data-plane/buckets";
export type {
  CleanRoomBucketProps,
  BucketPurpose,
  BucketRetentionPolicy,
  BucketEncryptionKey,
  BucketIamMode,
} from "./constructs/data-plane/buckets";
export { ConfidentialSpacePool, JobApprovalPool } from "./constructs/data-plane/workload-identity-pool";
export type { ConfidentialSpacePoolProps, JobApprovalPoolProps } from "./constructs/data-plane/workload-identity-pool";
export { ConfidentialSpaceWorkload } from "./constructs/data-plane/confidential-space";
export type {
  ConfidentialSpaceWorkloadProps,
  ConfidentialInstanceType,
  ImageRepositoryRef,
} from "./constructs/data-plane/confidential-space";
export { ConfidentialSpaceGpuTemplate } from "./constructs/data-plane/gpu-template";
export type { ConfidentialSpaceGpuTemplateProps, GpuTemplateBase } from "./constructs/data-plane/gpu-template";
export { CleanRoomDataPlane, DatasetHoldings, SignatureRepository } from "./constructs/data-plane/datasets";
export type { DatasetSettings } from "./constructs/data-plane/dataset-holdings";
export type {
  CleanRoomDataPlaneProps,
  DataPlaneKeyOptions,
  DatasetDataPlane,
  DatasetHoldingsProps,
  DatasetReader,
  SignatureRepositoryProps,
} from "./constructs/data-plane/datasets";
export { Stage1ProvisioningTrigger } from "./constructs/data-plane/provisioning";
export type { Stage1ProvisioningTriggerProps } from "./constructs/data-plane/provisioning";
export { PARTY_APIS, PartyDataPlane, partyHome } from "./constructs/data-plane/party-data-plane";
export type { PartyDataPlaneProps } from "./constructs/data-plane/party-data-plane";
export { OutputRelease } from "./constructs/data-plane/output-release";
export type { OutputReleaseProps, OutputReleaseVerifierGrantOptions } from "./constructs/data-plane/output-release";

// ---------------------------------------------------------------------------------------
// Workloads on the cluster: the job service and JupyterHub (lib/constructs/workloads).
// ---------------------------------------------------------------------------------------
export { JobServiceIdentity } from "./constructs/workloads/job-service/identities";
export { jobServiceConfigFor } from "./constructs/workloads/job-service/config";
export type {
  JobServiceProps,
  JobServiceIdentityProps,
  JobServiceConfigResources,
  JobServiceAccounts,
  JobServiceGoogleResources,
  JobServiceApiAccess,
  JobStateStoreRef,
  JobLaunchScope,
  ActAsGrantor,
  BucketGrantor,
  RepositoryGrantor,
  BuildStepImages,
  ContainerResources,
} from "./constructs/workloads/job-service";
export type {
  JupyterHubProps,
  JupyterHubAuthenticator,
  GoogleAuthenticatorOptions,
  GitHubAuthenticatorOptions,
  GenericOAuthAuthenticatorOptions,
  DummyAuthenticatorOptions,
  SecretKeyRef,
  JupyterHubExposure,
  JupyterHubHelmOptions,
  SingleUserEgress,
  SingleUserResources,
  WaitForClientSecret,
  JupyterHubValues,
  Z2jhHubValues,
  Z2jhNetworkPolicy,
  Z2jhProxyValues,
  Z2jhSingleUserValues,
} from "./constructs/workloads/jupyterhub";

// ---------------------------------------------------------------------------------------
// The attestation verifier, deployed as a Cloud Functions (2nd gen) function (lib/constructs/verifier).
// ---------------------------------------------------------------------------------------
// Mirrors constructs/verifier/index.ts on purpose: the root is a deliberate, snapshotted list (public-api.test.ts).
export { AttestationVerifier, VerifierIngress, ReceiptKey, RECEIPT_KEY_ALGORITHM } from "./constructs/verifier";
export type { ReceiptKeyProps } from "./constructs/verifier";
export type {
  AttestationVerifierProps,
  ReceiptKeyOptions,
  ReceiptKeyProtection,
  VerifierAuditOptions,
  VerifierEncryptionKey,
  VerifierFunctionOptions,
} from "./constructs/verifier";

// ---------------------------------------------------------------------------------------
// Guardrails: the rule pack as an Aspect, reasoned suppressions, and the engine `manatee
// check` runs over synthesized JSON (lib/checks). `Rule` and what it sees (ResourceIndex,
// TfResource, CheckContext) are public because CleanRoomChecksProps.rules takes your own.
// ---------------------------------------------------------------------------------------
export { CleanRoomChecks, CleanRoomSuppressions, CLEAN_ROOM_RULES, checkTerraform, ResourceIndex } from "./checks";
export type {
  CleanRoomChecksProps,
  CheckContext,
  CheckContextProps,
  CleanRoomSuppression,
  SuppressionOptions,
  Finding,
  FindingLevel,
  Rule,
  RuleLevel,
  RuleResult,
  TfResource,
  TerraformJson,
} from "./checks";
export type { JsonObject } from "./analysis/resource-index";

// ---------------------------------------------------------------------------------------
// The auditor's access report and its cross-check against the synthesized stacks (lib/report).
// The access model and the infrastructure facts are public so an auditor can render or gate
// on them without parsing Markdown.
// ---------------------------------------------------------------------------------------
export {
  renderAccessReport,
  writeAccessReport,
  readSynthesizedStacks,
  ACCESS_REPORT_FILE,
  buildAccessModel,
  crossCheck,
  readInfrastructure,
  accessDiagram,
} from "./report";
export type {
  AccessReportOptions,
  AccessModel,
  AccessModelOptions,
  DatasetAccess,
  DatasetKeyView,
  BucketView,
  Stage2Principal,
  ExpectedGrant,
  PrincipalRole,
  ResourceRef,
  ResourceKind,
  ApprovalView,
  JobApprovalView,
  JobPoolView,
  CrossCheckFinding,
  CrossCheckLevel,
  CrossCheckResult,
  InfrastructureFacts,
  BucketFact,
  KeyFact,
  GrantFact,
  LifecycleRuleFact,
  ProviderFact,
  SynthesizedStack,
  ReportSuppression,
} from "./report";

// ---------------------------------------------------------------------------------------
// The ready stacks: `<room>-platform` and `<room>-workloads` from one policy (stacks/,
// built to dist/stacks, which the package ships). stacks/ imports lib modules, never this
// file, so there is no cycle.
// ---------------------------------------------------------------------------------------
export { CleanRoomPlatformStack } from "../stacks/platform-stack";
export { CleanRoomPartyStack } from "../stacks/party-stack";
export type {
  CleanRoomPartyStackProps,
  CleanRoomStacks,
  CleanRoomStacksOptions,
  CleanRoomPlatformStackProps,
  CleanRoomWorkloadsStackProps,
} from "../stacks";
export { stacksOptionsFromPolicy } from "../stacks/config";

// ---------------------------------------------------------------------------------------
// Loaded on first use: what runs on Kubernetes needs @cdktf/provider-kubernetes and
// @cdktf/provider-helm, optional peer dependencies that a room without JupyterHub does not
// install. Importing the package root loads neither (test/examples.test.ts hides them).
// ---------------------------------------------------------------------------------------
import type * as jobServiceWorkload from "./constructs/workloads/job-service/workload";
import type * as jupyterHub from "./constructs/workloads/jupyterhub";
import type * as cleanRoomWorkloads from "./constructs/clean-room-workloads";
import type * as readyStacks from "../stacks";

export type JobService = jobServiceWorkload.JobService;
export declare const JobService: typeof jobServiceWorkload.JobService;
export type JupyterHub = jupyterHub.JupyterHub;
export declare const JupyterHub: typeof jupyterHub.JupyterHub;
export type CleanRoomWorkloads = cleanRoomWorkloads.CleanRoomWorkloads;
export declare const CleanRoomWorkloads: typeof cleanRoomWorkloads.CleanRoomWorkloads;
export type CleanRoomWorkloadsStack = readyStacks.CleanRoomWorkloadsStack;
export declare const CleanRoomWorkloadsStack: typeof readyStacks.CleanRoomWorkloadsStack;
export declare const createCleanRoomStacks: typeof readyStacks.createCleanRoomStacks;

function onFirstUse(name: string, load: () => unknown): void {
  Object.defineProperty(exports, name, { enumerable: true, get: load });
}
onFirstUse("JobService", () => require("./constructs/workloads/job-service/workload").JobService);
onFirstUse("JupyterHub", () => require("./constructs/workloads/jupyterhub").JupyterHub);
onFirstUse("CleanRoomWorkloads", () => require("./constructs/clean-room-workloads").CleanRoomWorkloads);
onFirstUse("CleanRoomWorkloadsStack", () => require("../stacks").CleanRoomWorkloadsStack);
onFirstUse("createCleanRoomStacks", () => require("../stacks").createCleanRoomStacks);

// Receipts, verified offline (what `manatee verify-receipt` runs).
export { verifyReceipt, InvalidReceiptError, RECEIPT_TYP } from "./cli/verify-receipt";
export type { VerifyReceiptOptions, ReceiptObject } from "./cli/verify-receipt";
