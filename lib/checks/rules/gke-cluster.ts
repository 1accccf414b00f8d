/**
 * MCR-GKE1: the stage-1 cluster uses Workload Identity (pods never see the node's
 * service account) and private nodes (no node has a public IP).
 */
import { Rule, RuleResult } from "../model";
import { blocks, dig, readBool, readString } from "../../analysis/values";

const PUBLIC_POOL = "sets network_config.enable_private_nodes = false, so its nodes get public IPs. Remove the override (nodes inherit private nodes from the cluster).";

export const gkeCluster: Rule = {
  id: "MCR-GKE1",
  level: "error",
  title: "GKE clusters use Workload Identity and private nodes",
  resourceTypes: ["google_container_cluster", "google_container_node_pool"],
  check(resource) {
    const out: RuleResult[] = [];
    const poolIsPublic = (pool: Record<string, unknown>) => {
      const v = readBool(dig(pool, "network_config.enable_private_nodes"));
      return v.state === "known" && !v.value;
    };
    if (resource.type === "google_container_node_pool") {
      if (poolIsPublic(resource.config)) out.push({ message: `The node pool ${PUBLIC_POOL}` });
      return out;
    }
    const autopilot = readBool(resource.config.enable_autopilot);
    const pool = readString(dig(resource.config, "workload_identity_config.workload_pool"));
    if (!(autopilot.state === "known" && autopilot.value) && (pool.state === "absent" || (pool.state === "known" && pool.value === ""))) {
      out.push({
        message: 'Workload Identity is off: pods can use the node service account\'s credentials. Set workload_identity_config { workload_pool = "<project>.svc.id.goog" } (and node_config.workload_metadata_config.mode = "GKE_METADATA").',
      });
    }
    const priv = readBool(dig(resource.config, "private_cluster_config.enable_private_nodes"));
    if (priv.state === "unknown") {
      out.push({ level: "warning", message: "Cannot tell whether nodes are private: private_cluster_config.enable_private_nodes is an expression." });
    } else if (!(priv.state === "known" && priv.value)) {
      out.push({ message: "Nodes are not private: each gets a public IP. Set private_cluster_config { enable_private_nodes = true } (egress through Cloud NAT)." });
    }
    for (const p of blocks(resource.config.node_pool)) {
      if (poolIsPublic(p)) out.push({ message: `The inline node pool ${JSON.stringify(p.name ?? "")} ${PUBLIC_POOL}` });
    }
    return out;
  },
};
