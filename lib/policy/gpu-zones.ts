/**
 * Where confidential GPU machine types run: the table `tee.gpu` is checked against at synth.
 * Pure data, no cdktf imports. Sources and what is an assumption: docs/gpu.md.
 *
 * Google's Confidential Space page (https://cloud.google.com/confidential-computing/confidential-space/docs/deploy-workloads,
 * "GPU-based workloads", Preview) documents one machine type, `a3-highgpu-1g` (one H100), and
 * refers to "the zones that support NVIDIA Confidential Computing" without listing them in the
 * stored copy. The zones below are ASSUMPTIONS from public evidence (docs/gpu.md): extend the
 * table when Google's zone list says more.
 */
import { InvalidInputError } from "../errors";

export interface GpuMachineType {
  /** The accelerator the machine type carries (`guest_accelerator.type`). */
  readonly acceleratorType: string;
  /** GPUs per VM: fixed by the machine type. */
  readonly acceleratorCount: number;
  /** Zones that offer the machine type with NVIDIA Confidential Computing. */
  readonly zones: readonly string[];
}

export const GPU_MACHINE_TYPES: Readonly<Record<string, GpuMachineType>> = {
  "a3-highgpu-1g": {
    acceleratorType: "nvidia-h100-80gb",
    acceleratorCount: 1,
    // Assumption: us-central1 and us-east5 per google/go-tpm-tools' GPU test config; us-central1-a
    // from public runs of the preview image. Not confirmed by a stored Google page.
    zones: ["us-central1-a", "us-east5-a"],
  },
};

/** The regions of `zones` (`us-central1-a` → `us-central1`). */
export function regionsOf(zones: readonly string[]): string[] {
  return [...new Set(zones.map((z) => z.replace(/-[a-z]$/, "")))];
}

/** Why `zone` cannot run `machineType` as a confidential GPU VM, or undefined when it can. */
export function gpuZoneProblem(machineType: string, zone: string): string | undefined {
  const entry = GPU_MACHINE_TYPES[machineType];
  if (!entry) {
    return `${machineType} is not a confidential GPU machine type Confidential Space documents (known: ${Object.keys(GPU_MACHINE_TYPES).join(", ")})`;
  }
  if (entry.zones.includes(zone)) return undefined;
  const region = zone.replace(/-[a-z]$/, "");
  const inRegion = entry.zones.filter((z) => z.startsWith(`${region}-`));
  return inRegion.length > 0
    ? `zone ${zone} of region ${region} does not offer ${machineType} with NVIDIA Confidential Computing; use ${inRegion.join(" or ")}`
    : `region ${region} (zone ${zone}) does not offer ${machineType} with NVIDIA Confidential Computing; regions that do: ${regionsOf(entry.zones).join(", ")} (zones ${entry.zones.join(", ")})`;
}

/** Throw when `zone` cannot run `machineType` (constructs call this on their props). */
export function requireGpuZone(machineType: string, zone: string, options: { constructPath?: string; property?: string } = {}): void {
  const problem = gpuZoneProblem(machineType, zone);
  if (problem) {
    throw new InvalidInputError(`${problem}.`, { ...options, fix: "Move the room (zone) to a zone the table in lib/policy/gpu-zones.ts lists, or drop tee.gpu." });
  }
}
