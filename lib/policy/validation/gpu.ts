/**
 * Confidential GPU jobs: `tee.gpu` (machine type, accelerator, provisioning, run time) and each
 * approval's `gpu` mode. Facts and assumptions: docs/gpu.md.
 */
import { APPROVAL_GPU_MODES, GPU_PROVISIONING_MODELS } from "../model";
import { GPU_MACHINE_TYPES, gpuZoneProblem } from "../gpu-zones";
import { Checker, Plain, isPlainMap } from "./checker";

export const GPU_FIELDS = ["machineType", "acceleratorType", "acceleratorCount", "provisioningModel", "reservation", "maxRunDurationMinutes"] as const;
/** Google: "The value must be between 10 minutes and seven days" (flex-start `--max-run-duration`). */
export const GPU_MAX_RUN_MINUTES = { min: 10, max: 7 * 24 * 60 } as const;
/** A Compute Engine reservation name (RFC 1035). */
const RESERVATION = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `tee.gpu` and `approvals[].gpu`, and how they relate to the zone, the hardware and each other. */
export function checkGpu(c: Checker, root: Plain): void {
  const tee = isPlainMap(root.tee) ? root.tee : undefined;
  const gpu = tee?.gpu === undefined ? undefined : checkGpuSettings(c, tee.gpu, typeof root.zone === "string" ? root.zone : undefined);
  if (gpu && Array.isArray(tee?.hardware) && !tee!.hardware.includes("GCP_INTEL_TDX")) {
    c.fail(["tee", "hardware"], "a list that holds GCP_INTEL_TDX (confidential GPUs run on Intel TDX)", tee!.hardware);
  }
  if (!Array.isArray(root.approvals)) return;
  root.approvals.forEach((a, i) => {
    if (!isPlainMap(a) || a.gpu === undefined) return;
    const mode = c.oneOf(["approvals", i, "gpu"], a.gpu, APPROVAL_GPU_MODES);
    if (mode && mode !== "none" && tee?.gpu === undefined) {
      c.fail(["approvals", i, "gpu"], "none, or a tee.gpu section that describes the GPU VMs", mode, {
        detail: `approvals[${i}].gpu is ${mode} but the room has no tee.gpu; add tee.gpu (e.g. { machineType: a3-highgpu-1g, provisioningModel: spot }) or set gpu: none`,
      });
    }
  });
}

function checkGpuSettings(c: Checker, value: unknown, zone: string | undefined): Plain | undefined {
  const path = (k?: string) => (k ? ["tee", "gpu", k] : ["tee", "gpu"]);
  const gpu = c.map(path(), value, "the GPU settings: { machineType, acceleratorType, acceleratorCount, provisioningModel, reservation, maxRunDurationMinutes }", GPU_FIELDS);
  if (!gpu) return undefined;
  const machineType = gpu.machineType ?? "a3-highgpu-1g";
  const known = Object.keys(GPU_MACHINE_TYPES);
  const entry = typeof machineType === "string" ? GPU_MACHINE_TYPES[machineType] : undefined;
  if (!entry) {
    c.oneOf(path("machineType"), machineType, known);
  } else {
    if (gpu.acceleratorType !== undefined && gpu.acceleratorType !== entry.acceleratorType) {
      c.fail(path("acceleratorType"), `${entry.acceleratorType} (what ${machineType} carries)`, gpu.acceleratorType);
    }
    if (gpu.acceleratorCount !== undefined && gpu.acceleratorCount !== entry.acceleratorCount) {
      c.fail(path("acceleratorCount"), `${entry.acceleratorCount} (the GPUs of one ${machineType})`, gpu.acceleratorCount);
    }
    const problem = zone === undefined ? undefined : gpuZoneProblem(machineType as string, zone);
    if (problem) c.fail(["zone"], `a zone that offers ${machineType} with NVIDIA Confidential Computing`, zone, { detail: problem });
  }
  const model = gpu.provisioningModel === undefined ? "spot" : c.oneOf(path("provisioningModel"), gpu.provisioningModel, GPU_PROVISIONING_MODELS);
  if (gpu.reservation !== undefined) {
    const name = c.string(path("reservation"), gpu.reservation, "a reservation name (lowercase letters, digits, '-')", (s) => RESERVATION.test(s));
    if (name && model && model !== "reservation") {
      c.fail(path("reservation"), "no reservation unless provisioningModel is reservation", name);
    }
  } else if (model === "reservation") {
    c.fail(path("reservation"), "the name of the reservation the GPU VMs consume (provisioningModel: reservation)", undefined);
  }
  if (gpu.maxRunDurationMinutes !== undefined) {
    const { min, max } = GPU_MAX_RUN_MINUTES;
    c.number(path("maxRunDurationMinutes"), gpu.maxRunDurationMinutes, `a whole number of minutes from ${min} to ${max} (seven days)`, (n) => Number.isInteger(n) && n >= min && n <= max);
  }
  return gpu;
}
