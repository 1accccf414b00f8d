/**
 * Confidential GPUs (docs/gpu.md): an approval's `gpu` mode against the token's GPU claims
 * (`submods.nvidia_gpu.cc_mode`, Google's token reference, Preview). The room's condition already
 * decides the same; this is defence in depth for a hand-edited condition, as the debug check is.
 */
import type { VerifierApproval } from "./policy";
import { Reason, reason } from "./reasons";

const MODES = ["required", "allowed", "none"];

/** Why `value` is not an approval's gpu mode, or undefined when it is (absent = none). */
export function approvalGpuProblem(value: unknown): string | undefined {
  if (value === undefined || (typeof value === "string" && MODES.includes(value))) return undefined;
  return `expected one of ${MODES.join(", ")}, got ${JSON.stringify(value)}`;
}

/** The reasons the token's GPU state refuses `approval` (empty when it agrees). */
export function gpuReasons(approval: VerifierApproval, claims: Record<string, unknown>): Reason[] {
  const submods = claims.submods as Record<string, unknown> | undefined;
  const gpu = submods && typeof submods === "object" ? (submods.nvidia_gpu as Record<string, unknown> | undefined) : undefined;
  const mode = approval.gpu ?? "none";
  if (gpu === undefined) {
    return mode === "required" ? [reason("gpu_mismatch", `Image ${approval.imageDigest} requires a confidential GPU; the token carries no GPU claims.`)] : [];
  }
  if (mode === "none") return [reason("gpu_mismatch", `Image ${approval.imageDigest} is approved for CPU only; the token carries GPU claims.`)];
  const cc = gpu !== null && typeof gpu === "object" ? gpu.cc_mode : undefined;
  return cc === "ON" ? [] : [reason("gpu_mismatch", `The GPU's confidential computing mode is ${JSON.stringify(cc) ?? "missing"}, not "ON".`)];
}
