/**
 * The access report's section on confidential GPUs (docs/gpu.md): which approvals run on a GPU
 * and what the condition then requires of the token. Absent for rooms without GPUs.
 */
import { gpuRoom } from "../policy/condition";
import { CleanRoomPolicy, approvalGpu } from "../policy/model";
import { bullets, code, text } from "./markdown";
import { ReportSection } from "./sections";

const MEANING = {
  required: "runs only on a confidential GPU whose token shows cc_mode ON",
  allowed: "runs on a CPU, or on a confidential GPU whose token shows cc_mode ON",
  none: "CPU only: a token with GPU claims is refused",
} as const;

export const gpuSection: ReportSection = {
  title: "Which approvals run on confidential GPUs (Preview)",
  body: ({ policy }) => (gpuRoom(policy) ? gpuBody(policy) : undefined),
};

function gpuBody(policy: CleanRoomPolicy): string {
  const gpu = policy.tee.gpu;
  return [
    text(
      gpu
        ? `GPU jobs run on ${code(gpu.machineType)} (${gpu.acceleratorCount} × ${code(gpu.acceleratorType)}), Intel TDX with NVIDIA Confidential Computing, ` +
            `provisioning ${code(gpu.provisioningModel)}${gpu.reservation ? ` (reservation ${code(gpu.reservation)})` : ""}, ` +
            "image family confidential-space-preview-cgpu. Google offers this as a Preview."
        : "The policy has no tee.gpu section: no GPU template exists, so a GPU approval cannot be launched.",
    ),
    "",
    bullets(policy.approvals.map((a) => `${code(a.imageDigest)} (${a.datasets.join(", ")}): ${code(approvalGpu(a))}, ${MEANING[approvalGpu(a)]}.`), "- no approvals"),
    "",
    text("Per-job approvals (signed jobs) may run on a GPU only with cc_mode ON. The token's GPU claim attests the driver's confidential computing mode, not the workload's use of the GPU."),
  ].join("\n");
}
