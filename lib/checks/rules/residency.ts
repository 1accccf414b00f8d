/**
 * MCR-LOC1: every place data is stored or processed lies in the residency set. The resource
 * types below are read field by field (buckets — multi-regions like `US` do not lie in a region —
 * key rings, the TEE's zone/region, the GKE cluster, the Cloud SQL instance); every other resource
 * is scanned for location-like fields (`location`, `location_id`, `region`, `zone`,
 * `node_locations`, `data_locations`, also inside JSON strings such as a ConfigMap's) and for
 * Artifact Registry hosts (`<location>-docker.pkg.dev`) in any string: registries, Firestore,
 * the verifier function and its invoker grants, images the workloads pull.
 */
import { isInResidency } from "../../internal/common";
import { Rule, RuleResult } from "../model";
import { JsonObject, TfResource } from "../../analysis/resource-index";
import { dig, readString } from "../../analysis/values";

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

/** Field names that hold a location wherever they appear. */
const LOCATION_KEYS = new Set(["location", "location_id", "region", "zone", "node_locations", "data_locations"]);
/** `us-central1-docker.pkg.dev`, `europe-docker.pkg.dev`, `us-docker.pkg.dev`. */
const REGISTRY_HOST = /(?:^|[^a-z0-9-])([a-z][a-z0-9-]*?)-docker\.pkg\.dev/g;

function values(resource: TfResource, field: string): unknown[] {
  const v = dig(resource.config, field);
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function outside(allowed: readonly string[], where: string, loc: string): RuleResult {
  return {
    message: `${where} "${loc}" lies outside the residency set [${allowed.join(", ")}]${/^[A-Za-z]+[0-9]*$/.test(loc) ? " (a multi-region spans regions outside it)" : ""}. Use a region or zone in the residency set.`,
  };
}

/** Every literal location in `value`: location-like fields, registry hosts, and both inside JSON strings. */
function scan(value: unknown, path: string, key: string | undefined, found: { where: string; loc: string }[], depth = 0): void {
  if (depth > 40) return;
  if (typeof value === "string") {
    if (value.includes("${")) {
      // An expression: only its literal registry hosts can be judged.
    } else if (key !== undefined && LOCATION_KEYS.has(key)) {
      found.push({ where: path, loc: value });
      return;
    }
    for (const m of value.matchAll(REGISTRY_HOST)) found.push({ where: `${path} (registry host ${m[1]}-docker.pkg.dev)`, loc: m[1] });
    const t = value.trimStart();
    if ((t.startsWith("{") || t.startsWith("[")) && value.length < 1_000_000) {
      try {
        scan(JSON.parse(value), `${path} (JSON)`, undefined, found, depth + 1);
      } catch {
        // not JSON: the registry hosts above are all it can hold
      }
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => scan(v, `${path}[${i}]`, key, found, depth + 1));
    return;
  }
  if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value as JsonObject)) {
      if (k === "//") continue; // cdktf metadata
      scan(v, path ? `${path}.${k}` : k, k, found, depth + 1);
    }
  }
}

export const residency: Rule = {
  id: "MCR-LOC1",
  level: "error",
  title: "Data locations lie inside the residency set",
  resourceTypes: () => true,
  check(resource, _index, context) {
    const allowed = context.residency;
    if (!allowed || allowed.length === 0) return [];
    const out: RuleResult[] = [];
    const fields = LOCATION_FIELDS[resource.type];
    if (fields) {
      for (const field of fields) {
        for (const raw of values(resource, field)) {
          const loc = readString(raw);
          if (loc.state === "unknown") {
            out.push({ level: "info", message: `Skipped: ${field} is the expression ${JSON.stringify(raw)}.` });
          } else if (loc.state === "known" && !isInResidency(loc.value, allowed)) {
            out.push(outside(allowed, field, loc.value));
          }
        }
      }
    }
    const found: { where: string; loc: string }[] = [];
    scan(resource.config, "", undefined, found);
    const seen = new Set<string>();
    for (const { where, loc } of found) {
      const field = where.replace(/\[\d+\]/g, "");
      if (fields?.includes(field)) continue; // judged above
      if (isInResidency(loc, allowed) || seen.has(`${where}|${loc}`)) continue;
      seen.add(`${where}|${loc}`);
      out.push(outside(allowed, where, loc));
    }
    return out;
  },
};
