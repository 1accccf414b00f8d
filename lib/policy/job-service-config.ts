/**
 * The job service's configuration, compiled from the room's policy (docs/job-path.md): what
 * the job service needs to build, launch and gate jobs, and every path by which an attested
 * workload reaches each dataset, with the same condition strings the providers enforce.
 * Pure: no cdktf imports. Only the contract's TYPES come from job-service/ (like
 * attestation-verifier/src/policy.ts imports lib types); its constants are duplicated in
 * condition.ts and pinned equal by a test.
 */
import type { DatasetAccessPath, DatasetProvisioning, JobServiceConfig, JobServiceDataset, WorkloadProviderConfig } from "../../job-service/src/config";
import {
  APPROVER_SIGNATURE_ALGORITHM,
  ATTRIBUTE_MAPPING,
  JOB_APPROVAL_ATTRIBUTE_MAPPING,
  JOB_APPROVED_GROUP,
  compileAttributeCondition,
  compileJobApprovalCondition,
  compilePartyAttributeCondition,
} from "./condition";
import { partiesOf, partyOf } from "./consortium";
import { partyDataPlaneNames } from "./party-names";
import { approvalEnd } from "./members";
import { CleanRoomPolicy, DatasetPolicy, PartyPolicy, approvalsFor, jobsOf } from "./model";
import { dataPlaneNames, dockerRepositoryPath, manateeContract } from "./names";
import { provisioningNames } from "./provisioning";
import { ERROR_CODES, ManateeError } from "../errors";

/** Must equal JOB_SERVICE_CONFIG_VERSION in job-service/src/config.ts (a test pins it). */
export const COMPILED_JOB_SERVICE_CONFIG_VERSION = 1;
export const DEFAULT_WORKSPACE_DIR = "/workspace";

/** What the policy cannot know: names of deployed resources. */
export interface JobServiceDeployment {
  /** `projects/P/global/instanceTemplates/NAME` or `projects/P/regions/R/instanceTemplates/NAME`. */
  readonly instanceTemplate: string;
  /**
   * VM names are `<instancePrefix>-<job uuid>` (1-26 lowercase letters, digits, '-').
   * @default defaultJobInstancePrefix(policy): "<room>-job"
   */
  readonly instancePrefix?: string;
  /** Where job images are pushed: `<location>-docker.pkg.dev/<project>/<repo>`. */
  readonly userImagesRepository: string;
  /** The attestation verifier's base URL (https). */
  readonly verifierUrl: string;
  readonly quarantineBucket: string;
  readonly releaseBucket: string;
  /** @default "/workspace" */
  readonly workspaceDir?: string;
}

export class JobServiceConfigCompileError extends ManateeError {
  constructor(message: string, fix?: string) {
    super(ERROR_CODES.invalidPolicy, message, fix !== undefined ? { fix } : {});
  }
}

/** The STS audience of a workload identity provider (what the TEE sends with its token to `sts.googleapis.com`). */
export function workloadIdentityAudience(projectNumber: string, pool: string, provider: string): string {
  return `//iam.googleapis.com/projects/${projectNumber}/locations/global/workloadIdentityPools/${pool}/providers/${provider}`;
}

/**
 * Every party's project number, which the job path needs (STS audiences of the parties' pools);
 * throws naming the first party without one and the field to set.
 */
export function requirePartyProjectNumbers(policy: Pick<CleanRoomPolicy, "parties">, source = "the room file"): void {
  for (const party of partiesOf(policy)) partyProjectNumber(party, source);
}

function partyProjectNumber(party: PartyPolicy, source = "the room file"): string {
  if (party.projectNumber !== undefined) return party.projectNumber;
  throw new JobServiceConfigCompileError(
    `${source}: parties.${party.name}.projectNumber: the operator's workloads stack needs party "${party.name}"'s project number ` +
      `(project ${party.project}): its job VMs name it in the STS audience of the party's pool, and the operator cannot look it up.`,
    `Ask party "${party.name}" for the project_number output of its stack (cdktf output), and set parties.${party.name}.projectNumber: "<digits>".`,
  );
}

/** `<room>-job`: at most 24 characters (room names have at most 20), within the 26 the job service allows. */
export function defaultJobInstancePrefix(policy: Pick<CleanRoomPolicy, "name">): string {
  return `${policy.name}-job`;
}

const INSTANCE_TEMPLATE = /^projects\/[a-z][-a-z0-9]{4,28}[a-z0-9]\/(global|regions\/[a-z]+-[a-z]+[0-9]{1,2})\/instanceTemplates\/[a-z]([-a-z0-9]*[a-z0-9])?$/;
const REPOSITORY_PATH = /^[a-z0-9-]+-docker\.pkg\.dev\/[a-z][-a-z0-9]{4,28}[a-z0-9]\/[a-z]([-a-z0-9]*[a-z0-9])?$/;
const BUCKET = /^[a-z0-9][-_a-z0-9]{1,61}[a-z0-9]$/;

function checkDeployment(d: JobServiceDeployment, prefix: string, workspaceDir: string): void {
  const fail = (field: string, expected: string, found: unknown): never => {
    throw new JobServiceConfigCompileError(`deployment.${field}: expected ${expected}, found ${JSON.stringify(found)}`);
  };
  if (!INSTANCE_TEMPLATE.test(d.instanceTemplate ?? "")) {
    fail("instanceTemplate", "the room's instance template, projects/<project>/global/instanceTemplates/<name> (or regions/<region>)", d.instanceTemplate);
  }
  if (!/^[a-z][-a-z0-9]{0,25}$/.test(prefix)) fail("instancePrefix", "1-26 lowercase letters, digits or '-', starting with a letter", prefix);
  if (!REPOSITORY_PATH.test(d.userImagesRepository ?? "")) {
    fail("userImagesRepository", "<location>-docker.pkg.dev/<project>/<repository>", d.userImagesRepository);
  }
  let url: URL | undefined;
  try {
    url = new URL(d.verifierUrl);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "https:") fail("verifierUrl", "the verifier's https:// URL", d.verifierUrl);
  if (!BUCKET.test(d.quarantineBucket ?? "")) fail("quarantineBucket", "a bucket name", d.quarantineBucket);
  if (!BUCKET.test(d.releaseBucket ?? "")) fail("releaseBucket", "a bucket name", d.releaseBucket);
  if (d.quarantineBucket === d.releaseBucket) {
    fail("releaseBucket", "a bucket other than quarantineBucket (release must be a copy the verifier makes)", d.releaseBucket);
  }
  if (!/^\/[^\0]*[^/]$/.test(workspaceDir)) fail("workspaceDir", "an absolute directory without a trailing slash", workspaceDir);
}

/**
 * The standing path (room pool, one `attribute.image_digest` principal set per digest approved
 * for the dataset, ending when its widest approval ends) and, with an approver key, the job path.
 */
export function datasetAccessPaths(policy: CleanRoomPolicy, dataset: DatasetPolicy): DatasetAccessPath[] {
  const party = partyOf(policy, dataset.name);
  // A party's dataset is reached only through the party's pools, in its project (docs/consortium-contract.md).
  const names = party ? partyDataPlaneNames(policy, party.name) : dataPlaneNames(policy);
  const where = (pool: string, provider: string) =>
    party ? { project: party.project, audience: workloadIdentityAudience(partyProjectNumber(party), pool, provider) } : {};
  const byDigest = new Map<string, (string | undefined)[]>();
  for (const a of approvalsFor(policy, dataset.name)) byDigest.set(a.imageDigest, [...(byDigest.get(a.imageDigest) ?? []), a.expires]);
  const paths: DatasetAccessPath[] = [...byDigest].map(([digest, expiries]) => {
    // Same rule as datasetMembers (members.ts): any approval without expiry wins, else the latest.
    const latest = expiries.includes(undefined) ? undefined : (expiries as string[]).sort().pop();
    return {
      kind: "standing",
      pool: names.poolId,
      provider: names.providerId,
      principal: { kind: "attribute", attribute: "image_digest", value: digest },
      ...(latest !== undefined ? { notAfter: approvalEnd(latest) } : {}),
      ...where(names.poolId, names.providerId),
    };
  });
  if (dataset.approverKey) {
    paths.push({
      kind: "job",
      pool: names.jobPoolId(dataset.name),
      provider: names.jobProviderId,
      principal: { kind: "group", value: JOB_APPROVED_GROUP },
      ...where(names.jobPoolId(dataset.name), names.jobProviderId),
    });
  }
  return paths;
}

/**
 * Hub usernames allowed to submit: the values of `jupyterhub.users` when that map is the
 * hub's whole allow-list; `[]` (any hub user) when anyone else may sign in (GitHub
 * organizations, the dummy authenticator) or no hub is declared.
 */
export function submittingResearchers(policy: CleanRoomPolicy): string[] {
  const hub = policy.jupyterhub;
  if (!hub || hub.authenticator.type === "dummy") return [];
  if (hub.authenticator.type === "github" && hub.authenticator.allowedOrganizations.length > 0) return [];
  return [...new Set(Object.values(hub.users))].sort();
}

export function compileJobServiceConfig(policy: CleanRoomPolicy, deployment: JobServiceDeployment): JobServiceConfig {
  const jobs = jobsOf(policy);
  const names = dataPlaneNames(policy);
  const instancePrefix = deployment.instancePrefix ?? defaultJobInstancePrefix(policy);
  const workspaceDir = deployment.workspaceDir ?? DEFAULT_WORKSPACE_DIR;
  checkDeployment(deployment, instancePrefix, workspaceDir);

  const datasets: JobServiceDataset[] = policy.datasets.map((d) => {
    const party = partyOf(policy, d.name);
    // A party's signature repository, key and buckets are in its own project (its stack makes them).
    const held = party ? partyDataPlaneNames(policy, party.name) : { ...names, project: policy.project };
    return {
      name: d.name,
      owners: [...d.owners],
      ...(d.approverKey ? { approverKey: { algorithm: APPROVER_SIGNATURE_ALGORITHM, fingerprint: d.approverKey.fingerprint } } : {}),
      signatureRepository: dockerRepositoryPath(policy.region, held.project, held.signatureRepositoryId(d.name)),
      standingApprovals: [...new Set(approvalsFor(policy, d.name).map((a) => a.imageDigest))],
      access: datasetAccessPaths(policy, d),
      ...provisioningOf(policy, d),
      ...(party
        ? {
            party: party.name,
            holdings: { project: party.project, stage2Bucket: held.datasetBucket(d.name, "stage2"), keyRing: held.datasetKeyRing, key: held.datasetKey(d.name) },
          }
        : {}),
    };
  });

  return {
    version: COMPILED_JOB_SERVICE_CONFIG_VERSION,
    room: policy.name,
    project: policy.project,
    region: policy.region,
    zone: policy.zone,
    launch: {
      instanceTemplate: deployment.instanceTemplate,
      instancePrefix,
      machineType: policy.tee.machineType,
      hardware: [...policy.tee.hardware],
      allowDebug: policy.tee.allowDebug,
      teeServiceAccount: manateeContract(policy.name, policy.project).teeServiceAccountEmail,
      allowedEnvOverrides: [...jobs.allowEnvOverrides],
      timeoutMinutes: jobs.timeoutMinutes,
      ...gpuLaunch(policy),
    },
    images: {
      userImagesRepository: deployment.userImagesRepository,
      executorBases: [...jobs.executorBases],
      ...(jobs.executorBase !== undefined ? { defaultExecutorBase: jobs.executorBase } : {}),
      workspaceDir,
    },
    datasets,
    providers: accessProviders(policy, datasets),
    researchers: submittingResearchers(policy),
    limits: {
      maxJobsInProgressPerResearcher: jobs.maxJobsInProgressPerResearcher,
      maxWorkspaceBytes: jobs.maxWorkspaceMiB * 1024 * 1024,
    },
    verifier: { url: deployment.verifierUrl, audience: policy.verifier.audience },
    outputs: { quarantineBucket: deployment.quarantineBucket, releaseBucket: deployment.releaseBucket },
  };
}

/** `providerKey` of job-service/src/config.ts (a type-only import here: the job service's contract, not its code). */
const providerKey = (pool: string, provider: string) => `${pool}/${provider}`;

/** The condition and mapping of every provider the datasets' access paths name, once each. */
export function accessProviders(policy: CleanRoomPolicy, datasets: readonly JobServiceDataset[]): Record<string, WorkloadProviderConfig> {
  const providers: Record<string, WorkloadProviderConfig> = {};
  for (const d of datasets) {
    for (const path of d.access) {
      const key = providerKey(path.pool, path.provider);
      if (providers[key]) continue;
      // A party's standing pool has the party's condition (pinned to the operator); job pools their dataset's.
      const party = d.party;
      providers[key] =
        path.kind === "job"
          ? { attributeCondition: compileJobApprovalCondition(policy, d.name), attributeMapping: { ...JOB_APPROVAL_ATTRIBUTE_MAPPING } }
          : {
              attributeCondition: party !== undefined ? compilePartyAttributeCondition(policy, party) : compileAttributeCondition(policy),
              attributeMapping: { ...ATTRIBUTE_MAPPING },
            };
    }
  }
  return providers;
}

/** The trigger the data plane creates for the room's own datasets with `provisioning` (data-plane/provisioning.ts). */
function provisioningOf(policy: CleanRoomPolicy, d: DatasetPolicy): { provisioning?: DatasetProvisioning } {
  if (d.provisioning === undefined || d.party !== undefined) return {};
  const names = provisioningNames(policy, d.name);
  const { imageDigest, schedule } = d.provisioning;
  return { provisioning: { imageDigest, subscription: names.subscriptionPath, stage2Bucket: names.stage2Bucket, ...(schedule !== undefined ? { schedule } : {}) } };
}

/** GPU-required digests (launched from the GPU template, which the construct puts in); nothing for CPU rooms. */
function gpuLaunch(policy: CleanRoomPolicy): { gpuImageDigests?: string[] } {
  const digests = [...new Set(policy.approvals.filter((a) => a.gpu === "required").map((a) => a.imageDigest))];
  return digests.length > 0 ? { gpuImageDigests: digests } : {};
}
