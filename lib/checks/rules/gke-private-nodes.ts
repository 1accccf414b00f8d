/**
 * MCR-GKE2: no GKE node has a public IP: the cluster has private nodes, and no node pool
 * (separate or inline) turns them off.
 */
import { Rule, RuleResult } from "../model";
import { JsonObject } from "../../analysis/resource-index";
import { blocks, dig, readBool } from "../../analysis/values";

const PUBLIC_POOL = "sets network_config.enable_private_nodes = false, so its nodes get public IPs. Remove the override (nodes inherit private nodes from the cluster).";

function poolIsPublic(pool: JsonObject): boolean {
  const v = readBool(dig(pool, "network_config.enable_private_nodes"));
  return v.state === "known" && !v.value;
}

export const gkePrivateNodes: Rule = {
  id: "MCR-GKE2",
  level: "error",
  title: "GKE nodes are private",
  resourceTypes: ["google_container_cluster", "google_container_node_pool"],
  check(resource) {
    if (resource.type === "google_container_node_pool") {
      return poolIsPublic(resource.config) ? [{ message: `The node pool ${PUBLIC_POOL}` }] : [];
    }
    const out: RuleResult[] = [];
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
