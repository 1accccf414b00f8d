/**
 * The job service's configuration: compiled from the room's policy by the library
 * (`lib/policy/job-service-config.ts`, `compileJobServiceConfig`) and delivered as JSON,
 * like the verifier's policy document. Everything ManaTEE hard-codes (region, registry,
 * names, machine type, hardware) is a value here. This file is the contract between
 * `lib/` and `job-service/`; it imports nothing from either.
 */

export const JOB_SERVICE_CONFIG_VERSION = 1;

/** The only signature algorithm dataset approver keys use (Cloud KMS EC_SIGN_P256_SHA256). */
export const APPROVER_SIGNATURE_ALGORITHM = "ECDSA_P256_SHA256";

/**
 * The constant group a dataset's job-approval provider maps (`google.groups`); grants name
 * `principalSet://…/workloadIdentityPools/<pool>/group/<JOB_APPROVED_GROUP>`, never the pool's `/*`.
 */
export const JOB_APPROVED_GROUP = "job-approved";

export interface DatasetApproverKey {
  readonly algorithm: typeof APPROVER_SIGNATURE_ALGORITHM;
  /** Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: the `key_id` in the token's `image_signatures`. */
  readonly fingerprint: string;
  /** Cloud KMS key version that signs (`projects/…/cryptoKeyVersions/N`); absent for local keys. */
  readonly kmsKeyVersion?: string;
}

/**
 * A workload identity provider the room's grants go through, as Google evaluates it. Listed once
 * in `JobServiceConfig.providers` (a room's data pool serves every standing path of every dataset:
 * repeating its 4 KB condition per path made a large room's config several MB, past Kubernetes'
 * 1 MiB ConfigMap limit).
 */
export interface WorkloadProviderConfig {
  /** The provider's attribute condition (CEL over `assertion`), verbatim. */
  readonly attributeCondition: string;
  /** The provider's attribute mapping: target attribute → CEL expression over `assertion`. */
  readonly attributeMapping: Readonly<Record<string, string>>;
}

/** The key of a provider in `JobServiceConfig.providers`. */
export function providerKey(pool: string, provider: string): string {
  return `${pool}/${provider}`;
}

/** One way an attested workload reaches a dataset: a provider in a pool, and the principal granted. */
export interface DatasetAccessPath {
  /** `standing` (digests in the room file) or `job` (per-job approval by the owner's signature). */
  readonly kind: "standing" | "job";
  readonly pool: string;
  /** Its condition and mapping: `JobServiceConfig.providers[providerKey(pool, provider)]`. */
  readonly provider: string;
  /**
   * Who holds the dataset's grants through this path:
   * - `group`: `principalSet://…/group/<value>` (the value `google.groups` must contain);
   * - `attribute`: `principalSet://…/attribute.<attribute>/<value>`.
   */
  readonly principal:
    | { readonly kind: "group"; readonly value: string }
    | { readonly kind: "attribute"; readonly attribute: string; readonly value: string };
  /** First instant the grant no longer holds (RFC 3339, UTC), from an approval's expiry. */
  readonly notAfter?: string;
  /** The project that holds `pool`: a consortium party's own project. @default - the room's project */
  readonly project?: string;
  /**
   * The provider's STS audience, `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`:
   * set for a party's datasets, whose project number the operator cannot look up (the room file's
   * `parties.<party>.projectNumber`). @default - the room's own pool: the TEE names its project number
   */
  readonly audience?: string;
}

/** Where a party's dataset lives: its key and stage-2 bucket in the party's project. */
export interface DatasetHoldings {
  readonly project: string;
  readonly stage2Bucket: string;
  readonly keyRing: string;
  readonly key: string;
}

export interface JobServiceDataset {
  readonly name: string;
  /** Data owners (IAM principals) who approve jobs for this dataset. */
  readonly owners: readonly string[];
  /** Absent until the owner's key fingerprint is in the room file: per-job approval is then off. */
  readonly approverKey?: DatasetApproverKey;
  /** Repository the owners push cosign signatures to (`tee-signed-image-repos`), e.g. `europe-west4-docker.pkg.dev/p/room-insurance-approvals`. */
  readonly signatureRepository: string;
  /** Image digests approved in the room file for this dataset (standing approvals). */
  readonly standingApprovals: readonly string[];
  /** Every path to this dataset's key and stage-2 objects, as Google IAM evaluates them. */
  readonly access: readonly DatasetAccessPath[];
  /** The consortium party that holds the dataset. @default - the room's (operator's) project */
  readonly party?: string;
  /** The party's key and bucket names (set with `party`). @default - the room's own data plane */
  readonly holdings?: DatasetHoldings;
  /** Stage-1 provisioning (provisioning-trigger.ts). @default - none: stage 1 is uploaded by its owners */
  readonly provisioning?: DatasetProvisioning;
}

/** A dataset whose stage-1 data an approved image makes when a stage-2 object is written. */
export interface DatasetProvisioning {
  /** `sha256:` digest of the provisioning image (a standing approval of this dataset). */
  readonly imageDigest: string;
  /** `projects/<p>/subscriptions/<id>`: the stage-2 bucket's object notifications. */
  readonly subscription: string;
  /** The stage-2 bucket whose notifications count; others on the subscription are ignored. */
  readonly stage2Bucket: string;
  /** The policy's cron schedule. @default - none: scheduled-run messages are ignored */
  readonly schedule?: string;
}

/**
 * Dataset → the STS audiences the TEE exchanges its token at, standing path first: party datasets
 * only (the room's own pool is in the TEE's own project). Datasets of one party share its pool, so
 * a job over several datasets of a party makes one exchange per party (plus per-dataset job pools).
 */
export function datasetAudiences(config: { readonly datasets: readonly Pick<JobServiceDataset, "name" | "access">[] }): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const d of config.datasets) {
    const audiences = [...new Set(d.access.flatMap((p) => (p.audience !== undefined ? [p.audience] : [])))];
    if (audiences.length > 0) out[d.name] = audiences;
  }
  return out;
}

export interface JobServiceLaunch {
  /** The room's instance template: `projects/P/global/instanceTemplates/NAME` or regional. */
  readonly instanceTemplate: string;
  /** VM names are `<instancePrefix>-<job uuid>`: deterministic, so a retry never starts a second VM. */
  readonly instancePrefix: string;
  readonly machineType: string;
  readonly hardware: readonly string[];
  readonly allowDebug: boolean;
  readonly teeServiceAccount: string;
  /** `tee-env-*` names the policy allows at launch. @default [] */
  readonly allowedEnvOverrides: readonly string[];
  /** Minutes from launch (not submission) after which a running VM is stopped and the job failed. */
  readonly timeoutMinutes: number;
  /** The room's GPU template (docs/gpu.md), when the policy sets `tee.gpu`. @default - none */
  readonly gpuInstanceTemplate?: string;
  /** Digests whose approval says `gpu: required`: launched from `gpuInstanceTemplate`. @default [] */
  readonly gpuImageDigests?: readonly string[];
}

export interface JobServiceConfig {
  readonly version: typeof JOB_SERVICE_CONFIG_VERSION;
  readonly room: string;
  readonly project: string;
  readonly region: string;
  readonly zone: string;
  readonly launch: JobServiceLaunch;
  readonly images: {
    /** Where job images are pushed: `<region>-docker.pkg.dev/<project>/<repo>`. */
    readonly userImagesRepository: string;
    /** Approved executor bases, `sha256:` digests; a job image must be one of them plus one workspace layer. */
    readonly executorBases: readonly string[];
    /** Pull reference of the base jobs are built from (`repo@sha256:…`, one of executorBases). */
    readonly defaultExecutorBase?: string;
    /** Absolute directory the workspace layer writes to (files only below it). @default "/workspace" */
    readonly workspaceDir: string;
  };
  readonly datasets: readonly JobServiceDataset[];
  /** Every provider an access path names, by `providerKey(pool, provider)`. */
  readonly providers: Readonly<Record<string, WorkloadProviderConfig>>;
  /** JupyterHub usernames (after the hub's username mapping) allowed to submit; empty = any hub user. */
  readonly researchers: readonly string[];
  readonly limits: {
    /** Jobs in statuses 0, 1, 3, 4, 10 per researcher. @default 3 */
    readonly maxJobsInProgressPerResearcher: number;
    /** Largest workspace tarball accepted. @default 256 MiB */
    readonly maxWorkspaceBytes: number;
  };
  readonly verifier: { readonly url: string; readonly audience: string };
  readonly outputs: {
    /** TEE writes here (create-only); only the verifier's release reads it. */
    readonly quarantineBucket: string;
    /** Released results and their receipts, under `<job uuid>/`. */
    readonly releaseBucket: string;
  };
}

export class JobServiceConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JobServiceConfigError";
  }
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** Validate a parsed config; throws JobServiceConfigError naming the field and the fix. */
export function parseJobServiceConfig(value: unknown): JobServiceConfig {
  const fail = (field: string, expected: string): never => {
    throw new JobServiceConfigError(`job service config: ${field}: expected ${expected}`);
  };
  if (value === null || typeof value !== "object") fail("(root)", "an object (compile it with `manatee job-service-config`)");
  const c = value as JobServiceConfig;
  if (c.version !== JOB_SERVICE_CONFIG_VERSION) fail("version", `${JOB_SERVICE_CONFIG_VERSION}`);
  for (const k of ["room", "project", "region", "zone"] as const) {
    if (typeof c[k] !== "string" || c[k].length === 0) fail(k, "a non-empty string");
  }
  if (!c.launch || typeof c.launch.instanceTemplate !== "string" || !c.launch.instanceTemplate) fail("launch.instanceTemplate", "the room's instance template");
  if (!/^[a-z][-a-z0-9]{0,25}$/.test(c.launch.instancePrefix ?? "")) fail("launch.instancePrefix", "1-26 lowercase letters, digits, '-' starting with a letter");
  if (!Number.isInteger(c.launch.timeoutMinutes) || c.launch.timeoutMinutes < 1) fail("launch.timeoutMinutes", "a positive integer");
  if (!c.images || !Array.isArray(c.images.executorBases)) fail("images.executorBases", "a list of sha256: digests");
  c.images.executorBases.forEach((d, i) => DIGEST.test(d) || fail(`images.executorBases[${i}]`, "sha256: followed by 64 lowercase hex digits"));
  if (!/^\/[^\0]*[^/]$/.test(c.images.workspaceDir ?? "")) fail("images.workspaceDir", "an absolute directory without a trailing slash");
  if (!Array.isArray(c.datasets) || c.datasets.length === 0) fail("datasets", "at least one dataset");
  c.datasets.forEach((d, i) => {
    if (typeof d.name !== "string" || !d.name) fail(`datasets[${i}].name`, "a dataset name");
    if (d.approverKey && !HEX64.test(d.approverKey.fingerprint)) fail(`datasets[${i}].approverKey.fingerprint`, "64 lowercase hex digits (SHA-256 of the DER public key)");
    if (d.approverKey && d.approverKey.algorithm !== APPROVER_SIGNATURE_ALGORITHM) fail(`datasets[${i}].approverKey.algorithm`, APPROVER_SIGNATURE_ALGORITHM);
    d.standingApprovals.forEach((s, j) => DIGEST.test(s) || fail(`datasets[${i}].standingApprovals[${j}]`, "a sha256: digest"));
    if (!Array.isArray(d.access)) fail(`datasets[${i}].access`, "a list of access paths");
    d.access.forEach((a, j) => {
      const p = c.providers?.[providerKey(a.pool, a.provider)];
      if (!p || typeof p.attributeCondition !== "string" || typeof p.attributeMapping !== "object") {
        fail(`datasets[${i}].access[${j}]`, `a provider listed in providers ("${providerKey(a.pool, a.provider)}" is not)`);
      }
      if (a.audience !== undefined && !/^\/\/iam\.googleapis\.com\/projects\/[0-9]+\/locations\/global\/workloadIdentityPools\/[-a-z0-9]+\/providers\/[-a-z0-9]+$/.test(a.audience)) {
        fail(`datasets[${i}].access[${j}].audience`, "//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>");
      }
    });
    if (d.party !== undefined && !d.access.every((p) => p.audience !== undefined)) fail(`datasets[${i}].access`, `an audience on every path of party ${d.party}'s dataset`);
    if (d.provisioning !== undefined) {
      if (!DIGEST.test(d.provisioning.imageDigest ?? "")) fail(`datasets[${i}].provisioning.imageDigest`, "a sha256: digest");
      if (!d.standingApprovals.includes(d.provisioning.imageDigest)) fail(`datasets[${i}].provisioning.imageDigest`, "one of the dataset's standingApprovals");
      if (!/^projects\/[^/]+\/subscriptions\/[^/]+$/.test(d.provisioning.subscription ?? "")) fail(`datasets[${i}].provisioning.subscription`, "projects/<project>/subscriptions/<id>");
      if (typeof d.provisioning.stage2Bucket !== "string" || !d.provisioning.stage2Bucket) fail(`datasets[${i}].provisioning.stage2Bucket`, "the dataset's stage-2 bucket name");
      if (d.provisioning.schedule !== undefined && (typeof d.provisioning.schedule !== "string" || d.provisioning.schedule.trim() === "")) {
        fail(`datasets[${i}].provisioning.schedule`, "a cron schedule, or absent");
      }
    }
  });
  if (!c.limits || !Number.isInteger(c.limits.maxJobsInProgressPerResearcher) || c.limits.maxJobsInProgressPerResearcher < 1)
    fail("limits.maxJobsInProgressPerResearcher", "a positive integer");
  if (!Number.isInteger(c.limits.maxWorkspaceBytes) || c.limits.maxWorkspaceBytes < 1) fail("limits.maxWorkspaceBytes", "a positive integer");
  if (!c.verifier || typeof c.verifier.audience !== "string") fail("verifier.audience", "the verifier audience");
  if (!c.outputs || !c.outputs.quarantineBucket || !c.outputs.releaseBucket) fail("outputs", "quarantineBucket and releaseBucket");
  return c;
}
