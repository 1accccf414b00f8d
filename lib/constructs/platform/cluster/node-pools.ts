/**
 * Node pools of the stage-1 cluster: their options (machine type, autoscaling bounds, disk,
 * Confidential GKE Nodes, GPU accelerator) and the checks that refuse a pool GKE could not create
 * or that could never run a node. The GPU pool is tainted (GPU_TAINT) so only GPU pods land on it.
 * Apart from the cluster construct so each pool rule and its error message reads on its own.
 */
import { Token } from "cdktf";
import { InvalidPropsError } from "../../../errors";

export type ConfidentialNodeType = "SEV" | "SEV_SNP" | "TDX";

/**
 * Machine types each Confidential GKE Nodes technology runs on (Confidential VM supported
 * configurations): AMD SEV on N2D, C2D and C3D; SEV-SNP on N2D; Intel TDX on C3, and on
 * a3-highgpu-1g for H100 GPU nodes.
 */
export const CONFIDENTIAL_NODE_MACHINE_TYPES: Record<ConfidentialNodeType, { pattern: RegExp; examples: string }> = {
  SEV: { pattern: /^(n2d|c2d|c3d)-/, examples: "n2d-, c2d- or c3d- types, e.g. n2d-standard-4" },
  SEV_SNP: { pattern: /^n2d-/, examples: "n2d- types, e.g. n2d-standard-4" },
  TDX: { pattern: /^(c3-(standard|highcpu|highmem)-\d+|a3-highgpu-1g)$/, examples: "c3-standard-*, c3-highcpu-*, c3-highmem-* or a3-highgpu-1g" },
};

/**
 * 16 GB: Kaniko requests 6000M per build, next to the API and reconciler (each with a Cloud SQL
 * proxy requesting 2 GiB) and the hub. N2D so `confidentialNodes: "SEV"` needs no type change.
 * (ManaTEE's default `c3-highmen-8` is a typo of c3-highmem-8 and fails to create.)
 */
export const DEFAULT_CPU_MACHINE_TYPE = "n2d-standard-4";

const MACHINE_TYPE =
  /^[a-z][a-z0-9]*-(standard|highmem|highcpu|highgpu|megagpu|ultragpu|edgegpu|ultramem|megamem|hypermem|micro|small|medium|custom)(-[0-9a-z-]+)?$/;
const GPU_DRIVER_VERSIONS = ["DEFAULT", "LATEST", "INSTALLATION_DISABLED"] as const;
/** GKE's own convention for GPU nodes: pods that request nvidia.com/gpu get the toleration automatically. */
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" } as const;

/** Size and shape of a node pool. */
export interface NodePoolOptions {
  /** @default DEFAULT_CPU_MACHINE_TYPE for the CPU pool */
  readonly machineType?: string;
  /** Autoscaling lower bound (per zone). @default 1 for the CPU pool, 0 for the GPU pool */
  readonly minNodes?: number;
  /** Autoscaling upper bound (per zone). @default 3 for the CPU pool, 1 for the GPU pool */
  readonly maxNodes?: number;
  /** @default 100 */
  readonly diskSizeGb?: number;
  /**
   * Run the pool as Confidential GKE Nodes (memory encrypted by the CPU). The machine type
   * must support the technology (`CONFIDENTIAL_NODE_MACHINE_TYPES`).
   * @default - not confidential
   */
  readonly confidentialNodes?: ConfidentialNodeType;
}

export interface GpuAccelerator {
  /** Accelerator type, e.g. "nvidia-l4" or "nvidia-h100-80gb". */
  readonly type: string;
  /** GPUs per node (must match what the machine type carries). */
  readonly count: number;
  /**
   * GKE installs the NVIDIA driver ("DEFAULT" or "LATEST"); "INSTALLATION_DISABLED" leaves it
   * to you (ManaTEE's choice).
   * @default "DEFAULT"
   */
  readonly driverVersion?: (typeof GPU_DRIVER_VERSIONS)[number];
}

/** A GPU node pool, tainted `nvidia.com/gpu=present:NoSchedule` so ordinary pods never land on it. */
export interface GpuPoolOptions extends NodePoolOptions {
  /** GPU machine type, e.g. "g2-standard-8" or "a3-highgpu-1g". */
  readonly machineType: string;
  readonly accelerator: GpuAccelerator;
}

export function validatePool(
  field: string,
  pool: NodePoolOptions & { machineType: string; minNodes: number; maxNodes: number },
): NodePoolOptions & { machineType: string; minNodes: number; maxNodes: number } {
  const { machineType, minNodes, maxNodes } = pool;
  if (!Token.isUnresolved(machineType) && !MACHINE_TYPE.test(machineType)) {
    const hint = /highmen/.test(machineType) ? ` Did you mean "${machineType.replace("highmen", "highmem")}"?` : "";
    throw new InvalidPropsError(
      `${field}.machineType "${machineType}" is not a Compute Engine machine type (family-series-vCPUs, e.g. "n2d-standard-4").${hint}`,
    );
  }
  for (const [key, value] of [["minNodes", minNodes], ["maxNodes", maxNodes]] as const) {
    if (!Token.isUnresolved(value) && !(Number.isInteger(value) && value >= 0)) {
      throw new InvalidPropsError(`${field}.${key} ${value} is not a whole number of nodes. Use an integer >= 0.`);
    }
  }
  if (!Token.isUnresolved(maxNodes) && maxNodes < 1) {
    throw new InvalidPropsError(`${field}.maxNodes is ${maxNodes}, so the pool could never run a node. Use 1 or more.`);
  }
  if (!Token.isUnresolved(minNodes) && !Token.isUnresolved(maxNodes) && minNodes > maxNodes) {
    throw new InvalidPropsError(`${field}.minNodes (${minNodes}) is greater than ${field}.maxNodes (${maxNodes}). Lower minNodes or raise maxNodes.`);
  }
  if (pool.diskSizeGb !== undefined && !Token.isUnresolved(pool.diskSizeGb) && !(Number.isInteger(pool.diskSizeGb) && pool.diskSizeGb >= 10)) {
    throw new InvalidPropsError(`${field}.diskSizeGb ${pool.diskSizeGb} is too small. GKE needs at least 10 GB; 100 is the default.`);
  }
  const confidential = pool.confidentialNodes;
  if (confidential !== undefined) {
    const rule = CONFIDENTIAL_NODE_MACHINE_TYPES[confidential];
    if (!rule) {
      throw new InvalidPropsError(`${field}.confidentialNodes "${confidential}" is not a confidential node type. Use "SEV", "SEV_SNP" or "TDX".`);
    }
    if (!Token.isUnresolved(machineType) && !rule.pattern.test(machineType)) {
      throw new InvalidPropsError(
        `${field}.machineType "${machineType}" does not support confidential nodes of type ${confidential}. ` +
          `Use ${rule.examples}, or choose another confidentialNodes type.`,
      );
    }
  }
  return pool;
}

export function validateGpuPool(pool: GpuPoolOptions): GpuPoolOptions & { minNodes: number; maxNodes: number } {
  if (pool.machineType === undefined) {
    throw new InvalidPropsError(`gpuPool.machineType is missing. Set a GPU machine type, e.g. "g2-standard-8" (1 nvidia-l4) or "a3-highgpu-1g" (1 nvidia-h100-80gb).`);
  }
  const accelerator = pool.accelerator as Partial<GpuAccelerator> | undefined;
  if (accelerator?.type === undefined || (!Token.isUnresolved(accelerator.type) && accelerator.type.trim() === "")) {
    throw new InvalidPropsError(`gpuPool.accelerator.type is missing. Set the GPU type, e.g. "nvidia-l4" or "nvidia-h100-80gb".`);
  }
  if (accelerator.count === undefined) {
    throw new InvalidPropsError(`gpuPool.accelerator.count is missing. Set the number of GPUs per node the machine type carries, e.g. 1.`);
  }
  if (!Token.isUnresolved(accelerator.count) && !(Number.isInteger(accelerator.count) && accelerator.count >= 1)) {
    throw new InvalidPropsError(`gpuPool.accelerator.count ${accelerator.count} is not a positive whole number. Use 1 or more.`);
  }
  if (accelerator.driverVersion !== undefined && !GPU_DRIVER_VERSIONS.includes(accelerator.driverVersion)) {
    throw new InvalidPropsError(
      `gpuPool.accelerator.driverVersion "${accelerator.driverVersion}" is not supported. Use "DEFAULT", "LATEST" or "INSTALLATION_DISABLED".`,
    );
  }
  return validatePool("gpuPool", { minNodes: 0, maxNodes: 1, ...pool }) as GpuPoolOptions & { minNodes: number; maxNodes: number };
}
