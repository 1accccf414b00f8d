/**
 * MCR-GPU1..3: a confidential GPU template (docs/gpu.md) — a Confidential Space VM or template
 * with `tee-install-gpu-driver`, a `*-cgpu` image, a guest accelerator or an accelerator-optimized
 * machine type — runs on Intel TDX with the GPU preview image and its driver installed (GPU1),
 * never on a debug image unless debug is allowed (GPU2), and inside the residency set and a zone
 * that offers the machine type (GPU3). Google documents TDX as the only CPU TEE for NVIDIA
 * Confidential Computing: https://cloud.google.com/confidential-computing/confidential-space/docs/deploy-workloads
 */
import { bootImage, imageFacts } from "../../analysis/confidential-space";
import { block, dig, readString } from "../../analysis/values";
import type { ResourceIndex, TfResource } from "../../analysis/resource-index";
import { gpuZoneProblem } from "../../policy/gpu-zones";
import { Rule, RuleResult } from "../model";
import { TEE_RESOURCE_TYPES } from "./tee-instance";

const GPU_DRIVER_KEY = "tee-install-gpu-driver";
/** Accelerator-optimized families (A2, A3, A4, G2). */
const GPU_MACHINE = /^(a2|a3|a4|g2)-/;

/** The VM's boot image facts, and whether it is a GPU TEE at all. */
function gpuFacts(vm: TfResource, index: ResourceIndex) {
  const image = imageFacts(bootImage(vm), index);
  const metadata = block(vm.config.metadata) ?? {};
  const machine = readString(vm.config.machine_type);
  const cgpuImage = image !== undefined && /-cgpu\b/.test(image.shown);
  const gpu =
    metadata[GPU_DRIVER_KEY] !== undefined ||
    cgpuImage ||
    (Array.isArray(vm.config.guest_accelerator) && vm.config.guest_accelerator.length > 0) ||
    (machine.state === "known" && GPU_MACHINE.test(machine.value) && Object.keys(metadata).some((k) => k.startsWith("tee-")));
  return { gpu, image, cgpuImage, metadata };
}

export const gpuConfidential: Rule = {
  id: "MCR-GPU1",
  level: "error",
  title: "Confidential GPU templates run on Intel TDX with the GPU preview image and its CC driver",
  resourceTypes: TEE_RESOURCE_TYPES,
  check(vm, index) {
    const { gpu, cgpuImage, metadata } = gpuFacts(vm, index);
    if (!gpu) return [];
    const out: RuleResult[] = [];
    const type = readString(dig(vm.config, "confidential_instance_config.confidential_instance_type"));
    if (type.state !== "known" || type.value !== "TDX") {
      out.push({ message: `The GPU VM's confidential_instance_type is ${type.state === "known" ? type.value : "not TDX"}: NVIDIA Confidential Computing on Confidential Space runs only on Intel TDX. Set confidential_instance_config { confidential_instance_type = "TDX" }.` });
    }
    const maintenance = readString(dig(vm.config, "scheduling.on_host_maintenance"));
    if (maintenance.state === "known" && maintenance.value !== "TERMINATE") {
      out.push({ message: `The GPU VM's on_host_maintenance is ${maintenance.value}: GPU VMs cannot live-migrate; set scheduling { on_host_maintenance = "TERMINATE" }.` });
    }
    if (String(metadata[GPU_DRIVER_KEY]) !== "true") {
      out.push({ message: `The GPU VM does not set ${GPU_DRIVER_KEY}=true: without NVIDIA's confidential computing driver the token carries no nvidia_gpu.cc_mode ON. Add the metadata key.` });
    }
    if (!cgpuImage) {
      out.push({ message: "The GPU VM does not boot a Confidential Space GPU image: use family confidential-space-preview-cgpu (project confidential-space-images)." });
    }
    return out;
  },
};

export const gpuDebugImage: Rule = {
  id: "MCR-GPU2",
  level: "error",
  title: "Confidential GPU templates boot the production GPU image",
  resourceTypes: TEE_RESOURCE_TYPES,
  check(vm, index, context) {
    const { gpu, image } = gpuFacts(vm, index);
    if (!gpu || !image?.debug || context.allowDebug) return [];
    return [{ message: `The GPU VM boots the debug image ${image.shown}: the operator gets a root shell beside the decrypted data and the GPU's memory. Use family confidential-space-preview-cgpu, or allow debug (tee.allowDebug) in a non-production room.` }];
  },
};

export const gpuResidency: Rule = {
  id: "MCR-GPU3",
  level: "error",
  title: "Confidential GPU templates stay in the residency set, in a zone that offers the GPU",
  resourceTypes: TEE_RESOURCE_TYPES,
  check(vm, index, context) {
    if (!gpuFacts(vm, index).gpu) return [];
    const out: RuleResult[] = [];
    const region = readString(vm.config.region);
    const zone = readString(vm.config.zone);
    const where = zone.state === "known" ? zone.value.replace(/-[a-z]$/, "") : region.state === "known" ? region.value : undefined;
    if (where !== undefined && context.residency !== undefined && !context.residency.includes(where)) {
      out.push({ message: `The GPU VM lives in ${where}, outside the residency set [${context.residency.join(", ")}]. Place the room (region, zone) in the residency set.` });
    }
    const machine = readString(vm.config.machine_type);
    const jobZone = zone.state === "known" ? zone.value : context.policy?.zone;
    if (machine.state === "known" && jobZone !== undefined) {
      const problem = gpuZoneProblem(machine.value, jobZone);
      if (problem) out.push({ message: `${problem} (lib/policy/gpu-zones.ts).` });
    }
    return out;
  },
};
