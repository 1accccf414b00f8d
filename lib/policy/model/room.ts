/** The whole room's policy and its input shape. */
import type { Approval } from "./approvals";
import type { DatasetInput, DatasetPolicy } from "./datasets";
import type { JupyterHubSettings, JupyterHubSettingsInput } from "./jupyterhub";
import type { AuditPolicy, JobsPolicy, StateBackendPolicy, VerifierPolicy } from "./operations";
import type { PartyInput, PartyPolicy } from "./parties";
import type { ClusterSettings, DatabaseSettings, LocationSettings, VpcServiceControlsSettings } from "./platform";
import type { GpuPolicy, TeePolicy } from "./tee";

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

/** Principals allowed administrative project roles (a hand-built policy may omit them). */
export function operatorsOf(policy: Pick<CleanRoomPolicy, "operators">): readonly string[] {
  return policy.operators ?? [];
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
