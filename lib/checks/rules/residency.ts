/**
 * MCR-LOC1: every place data is stored or processed lies in the residency set:
 * buckets (multi-regions like `US` do not), key rings, the TEE's zone/region, the GKE
 * cluster and the Cloud SQL instance.
 */
import { isInResidency } from "../../common";
import { Rule, RuleResult } from "../model";
import { TfResource } from "../resource-index";
import { dig, readString } from "../values";

/** Where each resource type keeps its location fields. */
const LOCATION_FIELDS: Record<string, readonly string[]> = {
  google_storage_bucket: ["location", "custom_placement_config.data_locations"],
  google_kms_key_ring: ["location"],
  google_compute_instance: ["zone"],
  google_compute_instance_template: ["region"],
  google_compute_region_instance_template: ["region"],
  google_container_cluster: ["location", "node_locations"],
  google_container_node_pool: ["location", "node_locations"],
  google_sql_database_instance: ["region"],
};

function values(resource: TfResource, field: string): unknown[] {
  const v = dig(resource.config, field);
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

export const residency: Rule = {
  id: "MCR-LOC1",
  level: "error",
  title: "Data locations lie inside the residency set",
  resourceTypes: Object.keys(LOCATION_FIELDS),
  check(resource, _index, context) {
    const allowed = context.residency;
    if (!allowed || allowed.length === 0) return [];
    const out: RuleResult[] = [];
    for (const field of LOCATION_FIELDS[resource.type]) {
      for (const raw of values(resource, field)) {
        const loc = readString(raw);
        if (loc.state === "unknown") {
          out.push({ level: "info", message: `Skipped: ${field} is the expression ${JSON.stringify(raw)}.` });
        } else if (loc.state === "known" && !isInResidency(loc.value, allowed)) {
          out.push({
            message: `${field} "${loc.value}" lies outside the residency set [${allowed.join(", ")}]${/^[A-Za-z]+$/.test(loc.value) ? " (a multi-region spans regions outside it)" : ""}. Use a region or zone in the residency set.`,
          });
        }
      }
    }
    return out;
  },
};
