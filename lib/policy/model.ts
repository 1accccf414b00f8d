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
}

export interface Approval {
  /** `sha256:` followed by 64 lowercase hex digits. */
  readonly imageDigest: string;
  /** Dataset names this image may read in stage 2. */
  readonly datasets: readonly string[];
  readonly purpose: string;
  readonly approvedBy: string;
  /** Last day (ISO date, UTC) on which the approval holds; absent = no expiry. */
  readonly expires?: string;
}

export interface TeePolicy {
  /** @default ["GCP_INTEL_TDX"] */
  readonly hardware: readonly TeeHardware[];
  /** @default "c3-standard-8" for TDX, "n2d-standard-4" for SEV */
  readonly machineType: string;
  /** Debug images allowed (non-production rooms only). @default false */
  readonly allowDebug: boolean;
}

export interface VerifierPolicy {
  /** Audience the stage-2 workload requests for its release token. @default DEFAULT_VERIFIER_AUDIENCE */
  readonly audience: string;
}

/** Optional GCS remote state for the generated stacks. */
export interface StateBackendPolicy {
  readonly bucket: string;
  /** @default "manatee/<name>" */
  readonly prefix: string;
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
}

/** Input shape: what a TypeScript caller writes; `normalizePolicy` fills in defaults. */
export interface CleanRoomPolicyInput {
  readonly name: string;
  readonly project: string;
  readonly region: string;
  readonly zone: string;
  readonly residency?: readonly string[];
  readonly tee?: Partial<TeePolicy>;
  readonly verifier?: Partial<VerifierPolicy>;
  readonly datasets: Record<
    string,
    { retentionDays?: number; stage1: Stage1Policy; access?: AccessMode; owners?: readonly string[] }
  >;
  readonly approvals?: readonly Approval[];
  readonly researchers?: readonly string[];
  readonly backend?: { bucket: string; prefix?: string };
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
    },
    verifier: { audience: input.verifier?.audience ?? DEFAULT_VERIFIER_AUDIENCE },
    datasets: Object.entries(input.datasets).map(([name, d]) => ({
      name,
      retentionDays: d.retentionDays ?? DEFAULT_RETENTION_DAYS,
      stage1: d.stage1,
      access: d.access ?? "direct",
      owners: d.owners ?? [],
    })),
    approvals: input.approvals ?? [],
    researchers: input.researchers ?? [],
    backend: input.backend
      ? { bucket: input.backend.bucket, prefix: input.backend.prefix ?? `manatee/${input.name}` }
      : undefined,
  };
}

/** Approvals that name `dataset`, in policy order. */
export function approvalsFor(policy: CleanRoomPolicy, dataset: string): Approval[] {
  return policy.approvals.filter((a) => a.datasets.includes(dataset));
}
