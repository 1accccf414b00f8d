/**
 * MCR-GKE1: the stage-1 cluster uses Workload Identity: pods never see the node's service
 * account. (Private nodes: MCR-GKE2.)
 */
import { Rule } from "../model";
import { dig, readBool, readString } from "../../analysis/values";

export const gkeCluster: Rule = {
  id: "MCR-GKE1",
  level: "error",
  title: "GKE clusters use Workload Identity",
  resourceTypes: ["google_container_cluster"],
  check(cluster) {
    const autopilot = readBool(cluster.config.enable_autopilot);
    if (autopilot.state === "known" && autopilot.value) return [];
    const pool = readString(dig(cluster.config, "workload_identity_config.workload_pool"));
    if (!(pool.state === "absent" || (pool.state === "known" && pool.value === ""))) return [];
    return [
      {
        message: 'Workload Identity is off: pods can use the node service account\'s credentials. Set workload_identity_config { workload_pool = "<project>.svc.id.goog" } (and node_config.workload_metadata_config.mode = "GKE_METADATA").',
      },
    ];
  },
};
