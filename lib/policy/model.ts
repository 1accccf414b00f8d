/**
 * The clean-room policy: the single source of truth from which the attribute
 * condition, the IAM members, the verifier policy document and the access report
 * are compiled. Pure types and constants: no cdktf imports (DESIGN.md §3).
 */

/** Hardware models a Confidential Space token may carry in `hwmodel`. */
export const TEE_HARDWARE = ["GCP_AMD_SEV", "GCP_AMD_SEV_ES", "GCP_INTEL_TDX"] as const;
export type TeeHardware = (typeof TEE_HARDWARE)[number];

/** How stage-1 (programming stage) data is weakened before researchers see it. */
export const STAGE1_KINDS = ["dp-synthetic", "sample", "none"] as const;
export type Stage1Kind = (typeof STAGE1_KINDS)[number];

/**
 * How an attested workload reaches a dataset's stage-2 data (both are documented by Google):
 * - `direct`: the principal sets of approved images hold the grants on the bucket and key.
 * - `impersonation`: the principal sets may impersonate a per-dataset reader service
 *   account that holds the grants (the mode ManaTEE's data SDK uses).
 */
export const ACCESS_MODES = ["direct", "impersonation"] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

export interface Stage1Policy {
  readonly kind: Stage1Kind;
  /** DP mechanism for `dp-synthetic`, e.g. `mst`, `aim`. */
  readonly mechanism?: string;
  /** Privacy budget for `dp-synthetic` (> 0). */
  readonly epsilon?: number;
  /** Optional delta for `dp-synthetic` (0 <= delta < 1). */
  readonly delta?: number;
  /** Sampling fraction for `sample` (0 < fraction <= 1). */
  readonly fraction?: number;
}

export interface DatasetPolicy {
  /** Lowercase letters, digits and '-', up to 30 characters. */
  readonly name: string;
  /** Days after which objects and noncurrent versions are deleted. @default 30 */
  readonly retentionDays: number;
  readonly stage1: Stage1Policy;
  /** @default "direct" */
  readonly access: AccessMode;
  /**
   * Data owners: principals who upload this dataset (object creator on its stage-1 and
   * stage-2 buckets) and wrap data keys with its dataset key (encrypt-only, never decrypt).
   * @default []
   */
  readonly owners: readonly string[];
  /**
   * The dataset's approver key (Cloud KMS, created by the first deploy). Until its fingerprint
   * is here, per-job approval for this dataset is off; standing approvals still work.
   * @default - none: per-job approval off
   */
  readonly approverKey?: ApproverKeyPolicy;
  /**
   * The consortium party whose project holds this dataset (docs/consortium-contract.md).
   * @default - none: the room's own project (a single-project room)
   */
  readonly party?: string;
  /**
   * The dataset's total privacy budget, shared by its stage-1 releases and stage-2 approvals that
   * declare a `spend`; the verifier's ledger refuses a release that would exceed it.
   * @default - none: no ledger for this dataset
   */
  readonly budget?: PrivacyBudget;
  /**
   * Stage-1 data made by an approved TEE job instead of by hand (stage1-provisioning.ts).
   * @default - none: stage-1 data is uploaded by the data owners
   */
  readonly provisioning?: ProvisioningPolicy;
}

/** A privacy budget or spend: epsilon, and delta where the mechanism uses one. */
export interface PrivacyBudget {
  /** > 0 for a budget, >= 0 for a spend. */
  readonly epsilon: number;
  /** 0 <= delta < 1. @default - none (pure epsilon-DP) */
  readonly delta?: number;
}

/** The image that makes a dataset's stage-1 data from its stage-2 data, in a TEE. */
export interface ProvisioningPolicy {
  /** `sha256:` digest of the provisioning image (e.g. examples/dp-synthesizer). */
  readonly imageDigest: string;
  /** Who approved the image for reading this dataset (an email, as approvals' approvedBy). */
  readonly approvedBy: string;
  /**
   * Cloud Scheduler cron expression for runs besides the one a new stage-2 object triggers.
   * @default - none: runs on new stage-2 objects only
   */
  readonly schedule?: string;
}

/** The purpose of the approval compiled from a dataset's `provisioning`. */
export const STAGE1_PROVISIONING_PURPOSE = "stage1-provisioning";

/** A data owner's approver key, as the room file names it. */
export interface ApproverKeyPolicy {
  /**
   * Lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo: the `key_id` Confidential Space
   * puts in `submods.container.image_signatures` (`manatee jobs approver-key --dataset <d>` prints it).
   */
  readonly fingerprint: string;
}

/** The researcher's stage-2 job path (docs/job-path.md). */
export interface JobsPolicy {
  /** Approved executor bases, `sha256:` digests: a job image is one of them plus one workspace layer. @default [] */
  readonly executorBases: readonly string[];
  /** Pull reference jobs are built from, `registry/repo@sha256:…`; its digest must be in executorBases. @default - none */
  readonly executorBase?: string;
  /** Jobs in progress per researcher. @default 3 */
  readonly maxJobsInProgressPerResearcher: number;
  /** Minutes from launch after which a job's VM is stopped (10..1440). @default 360 */
  readonly timeoutMinutes: number;
  /** `tee-env-*` names a job may set at launch (`[A-Z_][A-Z0-9_]*`). @default [] */
  readonly allowEnvOverrides: readonly string[];
  /** Largest workspace tarball accepted, in MiB. @default 256 */
  readonly maxWorkspaceMiB: number;
}

export const DEFAULT_JOBS: JobsPolicy = {
  executorBases: [],
  maxJobsInProgressPerResearcher: 3,
  timeoutMinutes: 360,
  allowEnvOverrides: [],
  maxWorkspaceMiB: 256,
};

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

/** Where the verifier's decision records are kept. */
export interface AuditPolicy {
  /**
   * Lock the audit bucket's retention policy (irreversible). `false` only for test rooms that
   * must be torn down: the guardrails then warn instead of failing (MCR-AUD1).
   * @default true
   */
  readonly lockRetention: boolean;
}

export interface TeePolicy {
  /** @default ["GCP_INTEL_TDX"] */
  readonly hardware: readonly TeeHardware[];
  /** @default "c3-standard-8" for TDX, "n2d-standard-4" for SEV */
  readonly machineType: string;
  /** Debug images allowed (non-production rooms only). @default false */
  readonly allowDebug: boolean;
  /**
   * Confidential GPU jobs (Intel TDX + NVIDIA H100 in CC mode, a Google Preview; docs/gpu.md).
   * @default - none: every job runs on the CPU template
   */
  readonly gpu?: GpuPolicy;
}

/**
 * How a GPU VM gets its capacity. Google documents `spot` and `flex-start` (Preview) for
 * Confidential Space GPUs; `reservation` is an assumption (docs/gpu.md).
 */
export const GPU_PROVISIONING_MODELS = ["spot", "flex-start", "reservation"] as const;
export type GpuProvisioningModel = (typeof GPU_PROVISIONING_MODELS)[number];

/** Whether an approved image runs on a confidential GPU: `none` (default) = CPU only. */
export const APPROVAL_GPU_MODES = ["required", "allowed", "none"] as const;
export type ApprovalGpuMode = (typeof APPROVAL_GPU_MODES)[number];

/** The GPU TEE template's settings (docs/gpu.md cites Google's pages for each default). */
export interface GpuPolicy {
  /** @default "a3-highgpu-1g" (the one machine type Google documents for Confidential Space GPUs) */
  readonly machineType: string;
  /** @default "nvidia-h100-80gb" */
  readonly acceleratorType: string;
  /** @default 1 */
  readonly acceleratorCount: number;
  /** @default "spot" */
  readonly provisioningModel: GpuProvisioningModel;
  /** Reservation name; required with `provisioningModel: reservation`. @default - none */
  readonly reservation?: string;
  /** Minutes after which Compute Engine deletes the VM (Google: 10 minutes to 7 days). @default jobs.timeoutMinutes */
  readonly maxRunDurationMinutes?: number;
}

export const DEFAULT_GPU: Omit<GpuPolicy, "reservation" | "maxRunDurationMinutes"> = {
  machineType: "a3-highgpu-1g",
  acceleratorType: "nvidia-h100-80gb",
  acceleratorCount: 1,
  provisioningModel: "spot",
};

/** An approval's GPU mode (`none` when unset). */
export function approvalGpu(approval: Pick<Approval, "gpu">): ApprovalGpuMode {
  return approval.gpu ?? "none";
}

export interface VerifierPolicy {
  /** Audience the stage-2 workload requests for its release token. @default DEFAULT_VERIFIER_AUDIENCE */
  readonly audience: string;
  /** A `/v1/verify` request must name a nonce the token carries (verifier-options.ts). @default true */
  readonly requireNonce?: boolean;
}

/** Optional GCS remote state for the generated stacks. */
export interface StateBackendPolicy {
  readonly bucket: string;
  /** @default "manatee/<name>" */
  readonly prefix: string;
}

// ---- deployment settings: how the room is run, never what it allows (the verifier document ignores them)

/** How researchers sign in to JupyterHub. */
export const JUPYTERHUB_AUTHENTICATORS = ["google", "github", "generic-oauth", "dummy"] as const;
export type JupyterHubAuthenticatorType = (typeof JUPYTERHUB_AUTHENTICATORS)[number];

/**
 * How the hub is reached. Never public from a config file: `cluster-ip` is reached with
 * `kubectl port-forward` (or an Ingress/IAP the platform team adds), `internal-load-balancer`
 * from inside the VPC.
 */
export const JUPYTERHUB_EXPOSURES = ["cluster-ip", "internal-load-balancer"] as const;
export type JupyterHubExposureType = (typeof JUPYTERHUB_EXPOSURES)[number];

/** Where single-user pods may connect besides the hub, DNS, the metadata server and the job service. */
export const JUPYTERHUB_EGRESS = ["internet", "private-google-access"] as const;
export type JupyterHubEgress = (typeof JUPYTERHUB_EGRESS)[number];

export const DEFAULT_CLIENT_SECRET_KEY = "client-secret";
export const DEFAULT_USERNAME_CLAIM = "preferred_username";

/** An OAuth client whose secret lives in a Kubernetes Secret created out of band (never in Terraform state). */
export interface OAuthClientSettings {
  readonly clientId: string;
  /** Name of the Kubernetes Secret in the release namespace that holds the client secret. */
  readonly clientSecret: string;
  /** Key of the client secret in that Secret. @default "client-secret" */
  readonly clientSecretKey: string;
  /** `https://<host>/hub/oauth_callback`, or `http://localhost:<port>/hub/oauth_callback` for port-forward access. */
  readonly callbackUrl: string;
}

export interface GoogleAuthenticatorSettings extends OAuthClientSettings {
  readonly type: "google";
  /** Workspace / Cloud Identity domains whose accounts may sign in (non-empty). */
  readonly hostedDomains: readonly string[];
}

export interface GitHubAuthenticatorSettings extends OAuthClientSettings {
  readonly type: "github";
  /** Members of these organizations (`org` or `org:team`) may sign in without a `users` entry. @default [] */
  readonly allowedOrganizations: readonly string[];
}

export interface GenericOAuthAuthenticatorSettings extends OAuthClientSettings {
  readonly type: "generic-oauth";
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly userdataUrl: string;
  /** @default "preferred_username" */
  readonly usernameClaim: string;
}

/** Anyone signs in under any name: non-production rooms (`tee.allowDebug: true`) reached by port-forward only. */
export interface DummyAuthenticatorSettings {
  readonly type: "dummy";
  readonly acknowledgeInsecure: true;
}

export type JupyterHubAuthenticatorSettings =
  | GoogleAuthenticatorSettings
  | GitHubAuthenticatorSettings
  | GenericOAuthAuthenticatorSettings
  | DummyAuthenticatorSettings;

/** What a caller writes: the defaulted fields may be left out. */
export type JupyterHubAuthenticatorInput =
  | (Omit<GoogleAuthenticatorSettings, "clientSecretKey"> & { readonly clientSecretKey?: string })
  | (Omit<GitHubAuthenticatorSettings, "clientSecretKey" | "allowedOrganizations"> & {
      readonly clientSecretKey?: string;
      readonly allowedOrganizations?: readonly string[];
    })
  | (Omit<GenericOAuthAuthenticatorSettings, "clientSecretKey" | "usernameClaim"> & {
      readonly clientSecretKey?: string;
      readonly usernameClaim?: string;
    })
  | DummyAuthenticatorSettings;

/** Stage-1 JupyterHub of the workloads stack. */
export interface JupyterHubSettings {
  readonly authenticator: JupyterHubAuthenticatorSettings;
  /**
   * Sign-in identity (e-mail for Google, login for GitHub, the username claim for generic
   * OAuth; compared lower-cased) → JupyterHub username (`JUPYTERHUB_USERNAME_PATTERN`, validate.ts).
   * @default {}
   */
  readonly users: Readonly<Record<string, string>>;
  /** Usernames (values of `users`) with hub admin rights. @default [] */
  readonly admins: readonly string[];
  /** @default "cluster-ip" */
  readonly exposure: JupyterHubExposureType;
  /** Home volume per user, a Kubernetes quantity. @default - the JupyterHub construct's default (20Gi) */
  readonly storageCapacity?: string;
  /** @default "internet" */
  readonly egress: JupyterHubEgress;
  /** The Helm release's timeout and rollback. @default - the JupyterHub construct's (600 s, atomic) */
  readonly helm?: { readonly timeoutSeconds?: number; readonly atomic?: boolean };
}

export interface JupyterHubSettingsInput {
  readonly authenticator: JupyterHubAuthenticatorInput;
  readonly users?: Readonly<Record<string, string>>;
  readonly admins?: readonly string[];
  readonly exposure?: JupyterHubExposureType;
  readonly storageCapacity?: string;
  readonly egress?: JupyterHubEgress;
  readonly helm?: { readonly timeoutSeconds?: number; readonly atomic?: boolean };
}

/** A network allowed to reach the cluster's IP-based control-plane endpoints. */
export interface AuthorizedNetworkSettings {
  /** IPv4 CIDR block with no host bits set; RFC 1918 unless `publicEndpoint`. */
  readonly cidr: string;
  /** Shown in the console, e.g. "office". */
  readonly name: string;
}

/** GKE control plane and lifecycle. */
export interface ClusterSettings {
  /** @default [] (operators use the IAM-gated DNS endpoint) */
  readonly authorizedNetworks: readonly AuthorizedNetworkSettings[];
  /** Expose the public IP endpoint; needs a public range in `authorizedNetworks`. @default false */
  readonly publicEndpoint: boolean;
  /** @default true (false only for throwaway rooms) */
  readonly deletionProtection: boolean;
}

/**
 * An optional VPC Service Controls perimeter around the room's project. Deployment-only: it
 * changes where Google APIs may be called from, never which images are approved for which data,
 * so the verifier document ignores it.
 */
export interface VpcServiceControlsSettings {
  /** Numeric id of the organization's access policy (`gcloud access-context-manager policies list`). */
  readonly accessPolicy: string;
  /**
   * Short names of access levels in that policy (the part after `accessLevels/`) whose callers may
   * reach the restricted services from outside the perimeter, e.g. the deployer's network.
   * @default []
   */
  readonly accessLevels: readonly string[];
}

/** Google APIs the perimeter restricts: data, keys, the verifier and images. */
export const VPC_SC_RESTRICTED_SERVICES = [
  "storage.googleapis.com",
  "cloudkms.googleapis.com",
  "cloudfunctions.googleapis.com",
  "run.googleapis.com",
  "artifactregistry.googleapis.com",
] as const;

/**
 * Where the components a room may place apart from its region live. Deployment-only (the verifier
 * document ignores it). Each is a region of the residency set; absent = the room's region. The data
 * buckets, their keys, the TEEs and the cluster always stay in the room's region/zone.
 */
export interface LocationSettings {
  /** Artifact Registry repositories: service images, executor bases, job images, approvals. @default region */
  readonly registry?: string;
  /** The job records' Firestore database (Firestore serves fewer regions than the rest). @default region */
  readonly firestore?: string;
  /**
   * The attestation verifier: its function and build, receipt key ring, artifacts, audit and public
   * JWKS buckets (Cloud Functions gen2 serves fewer regions than the rest). @default region
   */
  readonly verifier?: string;
}

/** The components `locations` may place; `manatee check` and the loader name them. */
export const LOCATION_COMPONENTS = ["registry", "firestore", "verifier"] as const;

/** The job service's Cloud SQL instance. */
export interface DatabaseSettings {
  /** @default true (false only for throwaway rooms) */
  readonly deletionProtection: boolean;
}

export interface CleanRoomPolicy {
  readonly name: string;
  readonly project: string;
  readonly region: string;
  readonly zone: string;
  /** Regions every data location must lie in. @default [region] */
  readonly residency: readonly string[];
  readonly tee: TeePolicy;
  readonly verifier: VerifierPolicy;
  /** In declaration order. */
  readonly datasets: readonly DatasetPolicy[];
  readonly approvals: readonly Approval[];
  /** IAM principals (`user:`, `group:`, `serviceAccount:`, `domain:`) who work in stage 1. */
  readonly researchers: readonly string[];
  readonly backend?: StateBackendPolicy;
  /** Stage-1 JupyterHub. @default - none (the workloads stack needs it and says so) */
  readonly jupyterhub?: JupyterHubSettings;
  /** Absent: the cluster construct's defaults. */
  readonly cluster?: ClusterSettings;
  /** Absent: the database construct's defaults. */
  readonly database?: DatabaseSettings;
  /** The job path's settings. @default DEFAULT_JOBS (normalizePolicy always sets it) */
  readonly jobs?: JobsPolicy;
  /** Per-component locations inside the residency set. @default - every component in `region` */
  readonly locations?: LocationSettings;
  /** A VPC Service Controls perimeter around the project. @default - none */
  readonly vpcServiceControls?: VpcServiceControlsSettings;
  /**
   * IAM principals allowed to hold administrative project roles (owner, editor, IAM, pool, KMS or
   * storage admin): they could reach stage-2 data outside the attestation path, and the access
   * report lists them as such (MCR-IAM4).
   * @default []
   */
  readonly operators?: readonly string[];
  /** The audit trail's settings. @default { lockRetention: true } */
  readonly audit?: AuditPolicy;
  /**
   * Data-owning parties of a consortium room, each with its own project (docs/consortium-contract.md).
   * `project`/`region`/`zone` are then the operator's.
   * @default [] (a single-project room)
   */
  readonly parties?: readonly PartyPolicy[];
}

/** An EC P-256 public key as a JWK: what a party signs its approvals with. */
export interface PartyApprovalsJwk {
  readonly kty: "EC";
  readonly crv: "P-256";
  readonly x: string;
  readonly y: string;
}

/** A data-owning organisation of a consortium room. */
export interface PartyPolicy {
  /** `^[a-z][a-z0-9-]{0,11}$`: it goes into pool ids and stack names. */
  readonly name: string;
  /** The party's own project: its pool, keys and buckets live there. */
  readonly project: string;
  /**
   * The party's project NUMBER (its stack's `project_number` output): the operator's job VMs name it
   * in the STS audience of the party's pool, and the operator cannot look it up. Required for the
   * operator's workloads stack. @default - unknown: the job service cannot be compiled
   */
  readonly projectNumber?: string;
  /** Pins the key the party signs its approvals with. @default - approvals unsigned */
  readonly approvalsKey?: { readonly jwk: PartyApprovalsJwk };
  /** Compact JWS over the party's approvals (`manatee policy sign`); required with `approvalsKey`. */
  readonly approvalsSignature?: string;
}

/** Where `component` lives: `policy.locations[component]`, else the room's region. */
export function locationOf(policy: Pick<CleanRoomPolicy, "region" | "locations">, component: (typeof LOCATION_COMPONENTS)[number]): string {
  return policy.locations?.[component] ?? policy.region;
}

/** Principals allowed administrative project roles (a hand-built policy may omit them). */
export function operatorsOf(policy: Pick<CleanRoomPolicy, "operators">): readonly string[] {
  return policy.operators ?? [];
}

/** The room's job settings, defaults filled in (a hand-built policy may omit `jobs`). */
export function jobsOf(policy: Pick<CleanRoomPolicy, "jobs">): JobsPolicy {
  return policy.jobs ?? DEFAULT_JOBS;
}

/** Input shape: what a TypeScript caller writes; `normalizePolicy` fills in defaults. */
export interface CleanRoomPolicyInput {
  readonly name: string;
  readonly project: string;
  readonly region: string;
  readonly zone: string;
  readonly residency?: readonly string[];
  readonly tee?: Partial<Omit<TeePolicy, "gpu">> & { readonly gpu?: Partial<GpuPolicy> };
  readonly verifier?: Partial<VerifierPolicy>;
  /** The room's own datasets; empty or absent in a consortium (`parties` hold the data). */
  readonly datasets?: Record<string, DatasetInput>;
  readonly approvals?: readonly Approval[];
  /**
   * Data-owning parties (docs/consortium-contract.md), in declaration order. Their datasets and
   * approvals join the flat `datasets`/`approvals` lists with `party` set.
   * @default - none: a single-project room
   */
  readonly parties?: Record<string, PartyInput>;
  readonly researchers?: readonly string[];
  readonly backend?: { bucket: string; prefix?: string };
  readonly jupyterhub?: JupyterHubSettingsInput;
  readonly cluster?: Partial<ClusterSettings>;
  readonly database?: Partial<DatabaseSettings>;
  readonly jobs?: Partial<JobsPolicy>;
  readonly locations?: LocationSettings;
  readonly vpcServiceControls?: { readonly accessPolicy: string; readonly accessLevels?: readonly string[] };
  readonly operators?: readonly string[];
  readonly audit?: Partial<AuditPolicy>;
}

/** A dataset as a TypeScript caller writes it; `normalizePolicy` fills in defaults. */
export interface DatasetInput {
  readonly retentionDays?: number;
  readonly stage1: Stage1Policy;
  readonly access?: AccessMode;
  readonly owners?: readonly string[];
  readonly approverKey?: ApproverKeyPolicy;
  readonly budget?: PrivacyBudget;
  readonly provisioning?: ProvisioningPolicy;
}

/** A consortium party as a TypeScript caller (or a room file's `parties` section) writes it. */
export interface PartyInput {
  readonly project: string;
  /** The party's project number, a quoted string of digits (its stack's `project_number` output). @default - none */
  readonly projectNumber?: string;
  readonly datasets: Record<string, DatasetInput>;
  /** Approvals of this party; each names only this party's datasets. @default [] */
  readonly approvals?: readonly Omit<Approval, "party">[];
  /** @default - approvals unsigned */
  readonly approvalsKey?: { readonly jwk: PartyApprovalsJwk };
  /** Compact JWS (`manatee policy sign`); required with `approvalsKey`. @default - none */
  readonly approvalsSignature?: string;
}

export const DEFAULT_VERIFIER_AUDIENCE = "https://manatee-cdktf.invalid/verifier/release";
export const DEFAULT_RETENTION_DAYS = 30;
export const DEFAULT_TEE_HARDWARE: readonly TeeHardware[] = ["GCP_INTEL_TDX"];
export const CONFIDENTIAL_SPACE_ISSUER = "https://confidentialcomputing.googleapis.com";
export const STS_AUDIENCE = "https://sts.googleapis.com";

/** Default machine type: C3 for TDX, N2D for SEV (reference/confidential-space.md §4). */
export function defaultMachineType(hardware: readonly TeeHardware[]): string {
  return hardware.includes("GCP_INTEL_TDX") ? "c3-standard-8" : "n2d-standard-4";
}

/** Fill in defaults of a TypeScript-built policy. Validation is `validatePolicy`/`assertValidPolicy` (validate.ts). */
export function normalizePolicy(input: CleanRoomPolicyInput): CleanRoomPolicy {
  const hardware = input.tee?.hardware ?? DEFAULT_TEE_HARDWARE;
  const parties = Object.entries(input.parties ?? {});
  return {
    name: input.name,
    project: input.project,
    region: input.region,
    zone: input.zone,
    residency: input.residency ?? [input.region],
    tee: {
      hardware,
      machineType: input.tee?.machineType ?? defaultMachineType(hardware),
      allowDebug: input.tee?.allowDebug ?? false,
      ...(input.tee?.gpu !== undefined ? { gpu: { ...DEFAULT_GPU, ...definedOnly(input.tee.gpu) } } : {}),
    },
    verifier: {
      audience: input.verifier?.audience ?? DEFAULT_VERIFIER_AUDIENCE,
      ...(input.verifier?.requireNonce !== undefined ? { requireNonce: input.verifier.requireNonce } : {}),
    },
    datasets: [
      ...normalizeDatasets(input.datasets ?? {}, undefined),
      ...parties.flatMap(([party, p]) => normalizeDatasets(p.datasets, party)),
    ],
    approvals: [
      ...(input.approvals ?? []),
      ...parties.flatMap(([party, p]) => (p.approvals ?? []).map((a) => ({ ...a, party }))),
      // A provisioning image reads its dataset like any approved image (stage1-provisioning.ts).
      ...provisioningApprovals(input.datasets ?? {}),
      ...parties.flatMap(([party, p]) => provisioningApprovals(p.datasets).map((a) => ({ ...a, party }))),
    ],
    researchers: input.researchers ?? [],
    backend: input.backend
      ? { bucket: input.backend.bucket, prefix: input.backend.prefix ?? `manatee/${input.name}` }
      : undefined,
    jupyterhub: input.jupyterhub ? normalizeJupyterHub(input.jupyterhub) : undefined,
    cluster: input.cluster
      ? {
          authorizedNetworks: input.cluster.authorizedNetworks ?? [],
          publicEndpoint: input.cluster.publicEndpoint ?? false,
          deletionProtection: input.cluster.deletionProtection ?? true,
        }
      : undefined,
    database: input.database ? { deletionProtection: input.database.deletionProtection ?? true } : undefined,
    ...(input.locations !== undefined ? { locations: { ...input.locations } } : {}),
    ...(input.vpcServiceControls !== undefined
      ? {
          vpcServiceControls: {
            accessPolicy: input.vpcServiceControls.accessPolicy,
            accessLevels: input.vpcServiceControls.accessLevels ?? [],
          },
        }
      : {}),
    operators: input.operators ?? [],
    audit: { lockRetention: input.audit?.lockRetention ?? true },
    // Absent for a single-project room: its normalized form (and every snapshot of it) is unchanged.
    ...(parties.length > 0 ? { parties: parties.map(([name, p]) => normalizeParty(name, p)) } : {}),
    jobs: {
      executorBases: input.jobs?.executorBases ?? DEFAULT_JOBS.executorBases,
      ...(input.jobs?.executorBase !== undefined ? { executorBase: input.jobs.executorBase } : {}),
      maxJobsInProgressPerResearcher: input.jobs?.maxJobsInProgressPerResearcher ?? DEFAULT_JOBS.maxJobsInProgressPerResearcher,
      timeoutMinutes: input.jobs?.timeoutMinutes ?? DEFAULT_JOBS.timeoutMinutes,
      allowEnvOverrides: input.jobs?.allowEnvOverrides ?? DEFAULT_JOBS.allowEnvOverrides,
      maxWorkspaceMiB: input.jobs?.maxWorkspaceMiB ?? DEFAULT_JOBS.maxWorkspaceMiB,
    },
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function normalizeDatasets(datasets: Record<string, DatasetInput>, party: string | undefined): DatasetPolicy[] {
  return Object.entries(datasets).map(([name, d]) => ({
    name,
    retentionDays: d.retentionDays ?? DEFAULT_RETENTION_DAYS,
    stage1: d.stage1,
    access: d.access ?? "direct",
    owners: d.owners ?? [],
    ...(d.approverKey !== undefined ? { approverKey: { fingerprint: d.approverKey.fingerprint } } : {}),
    ...(d.budget !== undefined ? { budget: { ...d.budget } } : {}),
    ...(d.provisioning !== undefined ? { provisioning: { ...d.provisioning } } : {}),
    ...(party !== undefined ? { party } : {}),
  }));
}

function normalizeParty(name: string, p: PartyInput): PartyPolicy {
  return {
    name,
    project: p.project,
    ...(p.projectNumber !== undefined ? { projectNumber: p.projectNumber } : {}),
    ...(p.approvalsKey !== undefined ? { approvalsKey: { jwk: { ...p.approvalsKey.jwk } } } : {}),
    ...(p.approvalsSignature !== undefined ? { approvalsSignature: p.approvalsSignature } : {}),
  };
}

function normalizeAuthenticator(auth: JupyterHubAuthenticatorInput): JupyterHubAuthenticatorSettings {
  switch (auth.type) {
    case "dummy":
      return auth;
    case "google":
      return { ...auth, clientSecretKey: auth.clientSecretKey ?? DEFAULT_CLIENT_SECRET_KEY };
    case "github":
      return {
        ...auth,
        clientSecretKey: auth.clientSecretKey ?? DEFAULT_CLIENT_SECRET_KEY,
        allowedOrganizations: auth.allowedOrganizations ?? [],
      };
    case "generic-oauth":
      return {
        ...auth,
        clientSecretKey: auth.clientSecretKey ?? DEFAULT_CLIENT_SECRET_KEY,
        usernameClaim: auth.usernameClaim ?? DEFAULT_USERNAME_CLAIM,
      };
  }
}

function normalizeJupyterHub(input: JupyterHubSettingsInput): JupyterHubSettings {
  return {
    authenticator: normalizeAuthenticator(input.authenticator),
    users: input.users ?? {},
    admins: input.admins ?? [],
    exposure: input.exposure ?? "cluster-ip",
    // Sizing stays with the construct; only posture (exposure, egress) is spelled out here.
    storageCapacity: input.storageCapacity,
    egress: input.egress ?? "internet",
    ...(input.helm !== undefined ? { helm: { ...input.helm } } : {}),
  };
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
