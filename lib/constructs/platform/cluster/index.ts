/**
 * The stage-1 GKE cluster: JupyterHub, the ManaTEE job service and Kaniko builds run here,
 * on stage-1 data only. Hardened beyond ManaTEE's own cluster (reference/manatee-runtime.md
 * §1.1): private nodes, no public control-plane IP, shielded nodes, least-privilege node
 * service account, GKE metadata server, CMEK for secrets when given, and a tainted GPU pool.
 *
 * This file is the barrel: the code lives in lib/constructs/platform/cluster/ (gke-cluster: the construct;
 * node-pools; control-plane), and the public exports stay exactly those listed here.
 */
export * from "./gke-cluster";
export { CONFIDENTIAL_NODE_MACHINE_TYPES, DEFAULT_CPU_MACHINE_TYPE, GPU_TAINT } from "./node-pools";
export type { ConfidentialNodeType, GpuAccelerator, GpuPoolOptions, NodePoolOptions } from "./node-pools";
export type { AuthorizedNetwork, ControlPlaneAccess, KubernetesConnection } from "./control-plane";
