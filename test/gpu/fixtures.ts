/**
 * GPU token claims and the GPU room. The `nvidia_gpu` shape beyond `cc_mode` (Google's token
 * reference documents only `submods.nvidia_gpu.cc_mode`, Preview) follows public real tokens
 * (reference/confidential-space.md §2). Support attributes stay STABLE: the condition requires
 * them, and a preview image that carries only EXPERIMENTAL is refused (docs/gpu.md, fail closed).
 */
import { join } from "node:path";
import { loadPolicyFile } from "../../lib/policy/load";
import { CleanRoomPolicy } from "../../lib/policy/model";
import { manateeContract } from "../../lib/policy/names";
import { productionTdxClaims, withClaim } from "../cel";

export const GPU_ROOM_FILE = join(__dirname, "..", "..", "stacks", "gpu.cleanroom.yaml");
export const gpuRoom = (): CleanRoomPolicy => loadPolicyFile(GPU_ROOM_FILE);

/** The room's approvals by mode (stacks/gpu.cleanroom.yaml: one required, one CPU-only). */
export function digestsOf(policy: CleanRoomPolicy): { required: string; cpuOnly: string } {
  const required = policy.approvals.find((a) => a.gpu === "required")!.imageDigest;
  const cpuOnly = policy.approvals.find((a) => (a.gpu ?? "none") === "none")!.imageDigest;
  return { required, cpuOnly };
}

/** A production token from the room's TEE service account, on a CPU (no GPU claims). */
export function cpuClaims(policy: CleanRoomPolicy, imageDigest: string): Record<string, any> {
  return productionTdxClaims({ project: policy.project, serviceAccount: manateeContract(policy.name, policy.project).teeServiceAccountEmail, imageDigest });
}

/** The same token from an H100 whose CC mode is `ccMode`. */
export function gpuClaims(policy: CleanRoomPolicy, imageDigest: string, ccMode = "ON"): Record<string, any> {
  return withClaim(cpuClaims(policy, imageDigest), "submods.nvidia_gpu", {
    cc_feature: "SPT",
    cc_mode: ccMode,
    gpus: [{ hwmodel: "GCP_NVIDIA_H100", driver_version: "590.48.01", vbios_version: "96.00.CF.00.01" }],
  });
}
