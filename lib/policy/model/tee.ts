/** Where workloads run: TEE hardware, machine types, confidential GPUs and the token issuer. */
import type { Approval } from "./approvals";

/** Hardware models a Confidential Space token may carry in `hwmodel`. */
export const TEE_HARDWARE = ["GCP_AMD_SEV", "GCP_AMD_SEV_ES", "GCP_INTEL_TDX"] as const;
/**
 * A hardware model a Confidential Space token may carry in `hwmodel`.
 * @useDeclaredType
 */
export type TeeHardware = (typeof TEE_HARDWARE)[number];

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
/**
 * How a confidential GPU VM is provisioned (docs/gpu.md).
 * @useDeclaredType
 */
export type GpuProvisioningModel = (typeof GPU_PROVISIONING_MODELS)[number];

/** Whether an approved image runs on a confidential GPU: `none` (default) = CPU only. */
export const APPROVAL_GPU_MODES = ["required", "allowed", "none"] as const;
/**
 * Whether an approved image runs on a confidential GPU: `none` (default) = CPU only.
 * @useDeclaredType
 */
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

export const DEFAULT_TEE_HARDWARE: readonly TeeHardware[] = ["GCP_INTEL_TDX"];
export const CONFIDENTIAL_SPACE_ISSUER = "https://confidentialcomputing.googleapis.com";
export const STS_AUDIENCE = "https://sts.googleapis.com";

/** Default machine type: C3 for TDX, N2D for SEV (reference/confidential-space.md §4). */
export function defaultMachineType(hardware: readonly TeeHardware[]): string {
  return hardware.includes("GCP_INTEL_TDX") ? "c3-standard-8" : "n2d-standard-4";
}
