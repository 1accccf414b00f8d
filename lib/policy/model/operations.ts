/** How the room's services run: the job path, the audit trail, the verifier audience, remote state. */
import type { CleanRoomPolicy } from "./room";

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

/** Where the verifier's decision records are kept. */
export interface AuditPolicy {
  /**
   * Lock the audit bucket's retention policy (irreversible). `false` only for test rooms that
   * must be torn down: the guardrails then warn instead of failing (MCR-AUD1).
   * @default true
   */
  readonly lockRetention: boolean;
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

export const DEFAULT_VERIFIER_AUDIENCE = "https://manatee-cdktf.invalid/verifier/release";

/** The room's job settings, defaults filled in (a hand-built policy may omit `jobs`). */
export function jobsOf(policy: Pick<CleanRoomPolicy, "jobs">): JobsPolicy {
  return policy.jobs ?? DEFAULT_JOBS;
}
