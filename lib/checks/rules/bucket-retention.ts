/**
 * MCR-GCS3: data buckets forget: objects and noncurrent versions are deleted within the
 * dataset's retention (label `retention-days` or the policy), and no retention policy
 * forbids that deletion. Soft delete (MCR-GCS6) and the audit bucket (MCR-GCS7) are
 * checked on their own.
 */
import { CLEAN_ROOM_LABEL, COMPONENT } from "../../internal/common";
import { CheckContext, Rule, RuleResult } from "../model";
import { JsonObject, TfResource } from "../../analysis/resource-index";
import { block, blocks, componentOf, datasetOf, dig, labelsOf, readBool, readNumber, readString } from "../../analysis/values";

export const DATA_BUCKET_COMPONENTS = new Set<string>([COMPONENT.stage1Bucket, COMPONENT.stage2Bucket]);

const DAY_SECONDS = 86_400;
/** Condition fields that narrow a rule to some objects: such a rule does not cover the bucket. */
const NARROWING = [
  "matches_prefix",
  "matches_suffix",
  "matches_storage_class",
  "created_before",
  "custom_time_before",
  "days_since_custom_time",
  "noncurrent_time_before",
];

/** The retention a data bucket must honour (undefined for other buckets), from the policy and/or its label. */
export function dataBucketRetention(bucket: TfResource, context: CheckContext): { component: string; days?: number; conflict?: string } | undefined {
  const component = componentOf(bucket);
  return component && DATA_BUCKET_COMPONENTS.has(component) ? { component, ...retentionDays(bucket, context) } : undefined;
}

/** The retention the bucket must honour, from the policy and/or its label. */
export function retentionDays(bucket: TfResource, context: CheckContext): { days?: number; conflict?: string } {
  const label = labelsOf(bucket)[CLEAN_ROOM_LABEL.retentionDays];
  const labelDays = label !== undefined && /^\d+$/.test(label) ? Number(label) : undefined;
  const dataset = datasetOf(bucket);
  const policyDays = context.policy?.datasets.find((d) => d.name === dataset)?.retentionDays;
  if (labelDays !== undefined && policyDays !== undefined && labelDays !== policyDays) {
    return {
      days: Math.min(labelDays, policyDays),
      conflict: `its label ${CLEAN_ROOM_LABEL.retentionDays}=${labelDays} disagrees with the policy's retentionDays=${policyDays} for dataset "${dataset}"`,
    };
  }
  return { days: policyDays ?? labelDays };
}

type State = "live" | "noncurrent";

/** Whether a Delete rule removes every object in `state` within `days` of its creation. */
function deletesWithin(rule: JsonObject, state: State, days: number): boolean {
  if (readString(dig(rule, "action.type")).state !== "known" || dig(rule, "action.type") !== "Delete") return false;
  const cond = block(rule.condition) ?? {};
  for (const field of NARROWING) {
    const v = cond[field];
    if (v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0)) return false;
  }
  const withState = readString(cond.with_state);
  const isLive = readBool(cond.is_live);
  const ws = withState.state === "known" ? withState.value : isLive.state === "known" ? (isLive.value ? "LIVE" : "ARCHIVED") : "ANY";
  if (withState.state === "unknown") return false;
  if (ws !== "ANY" && ws !== "" && ws !== (state === "live" ? "LIVE" : "ARCHIVED")) return false;

  const age = readNumber(cond.age);
  const newer = readNumber(cond.num_newer_versions);
  const sinceNoncurrent = readNumber(cond.days_since_noncurrent_time);
  if (age.state === "unknown" || newer.state === "unknown" || sinceNoncurrent.state === "unknown") return false;
  if (age.state === "known" && age.value > days) return false;
  if (state === "live") {
    // A live object has no newer version and has never been noncurrent.
    return newer.state === "absent" && sinceNoncurrent.state === "absent";
  }
  // A noncurrent version always has >= 1 newer version; time since it became noncurrent is not bounded by creation.
  if (newer.state === "known" && newer.value > 1) return false;
  if (sinceNoncurrent.state === "known" && sinceNoncurrent.value > 0) return false;
  return true;
}

export const bucketRetention: Rule = {
  id: "MCR-GCS3",
  level: "error",
  title: "Data buckets delete objects and versions by the dataset's retention",
  resourceTypes: ["google_storage_bucket"],
  check(bucket, _index, context) {
    const retention = dataBucketRetention(bucket, context);
    if (!retention) return [];
    const { component, days, conflict } = retention;
    const out: RuleResult[] = [];
    if (conflict) out.push({ message: `The retention of this ${component} bucket is ambiguous: ${conflict}. Make the label match the policy.` });
    if (days === undefined) {
      return [
        {
          level: "warning",
          message: `Cannot check retention: this ${component} bucket has no ${CLEAN_ROOM_LABEL.retentionDays} label and the policy does not name its dataset. Add the label (or pass the policy to the checks).`,
        },
      ];
    }
    const rules = blocks(bucket.config.lifecycle_rule);
    const versioned = readBool(dig(bucket.config, "versioning.enabled"));
    if (!rules.some((r) => deletesWithin(r, "live", days))) {
      out.push({
        message: `No lifecycle rule deletes live objects within ${days} days: add lifecycle_rule { action { type = "Delete" } condition { age = ${days} } } without prefix/suffix/class filters.`,
      });
    }
    if (versioned.state !== "absent" && !(versioned.state === "known" && !versioned.value) && !rules.some((r) => deletesWithin(r, "noncurrent", days))) {
      out.push({
        message: `Versioning keeps noncurrent versions, but no lifecycle rule deletes them within ${days} days of creation: add lifecycle_rule { action { type = "Delete" } condition { age = ${days}, with_state = "ARCHIVED" } } (or num_newer_versions = 1).`,
      });
    }
    const rp = block(bucket.config.retention_policy);
    if (rp) {
      const period = readNumber(rp.retention_period);
      const locked = readBool(rp.is_locked);
      if (period.state === "unknown") {
        out.push({ level: "warning", message: `Cannot tell whether retention_policy (${JSON.stringify(period.raw)} seconds) outlasts the ${days}-day retention.` });
      } else if (period.state === "known" && period.value > days * DAY_SECONDS) {
        out.push({
          message: `retention_policy keeps objects for ${period.value} s (${(period.value / DAY_SECONDS).toFixed(1)} days), longer than the dataset's ${days}-day retention, so deletion is refused${locked.state === "known" && locked.value ? " — and the policy is locked, which cannot be undone" : ""}. Remove the retention policy from data buckets (use it on the audit bucket).`,
        });
      }
    }
    return out;
  },
};
