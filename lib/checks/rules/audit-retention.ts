/**
 * MCR-GCS7: the audit bucket keeps its records: a retention policy stops anyone deleting
 * or overwriting them. (Data buckets are the opposite: MCR-GCS3.)
 */
import { COMPONENT } from "../../internal/common";
import { Rule } from "../model";
import { componentOf, dig, readNumber } from "../../analysis/values";

export const auditRetention: Rule = {
  id: "MCR-GCS7",
  level: "error",
  title: "The audit bucket has a retention policy",
  resourceTypes: ["google_storage_bucket"],
  check(bucket) {
    if (componentOf(bucket) !== COMPONENT.auditBucket) return [];
    const period = readNumber(dig(bucket.config, "retention_policy.retention_period"));
    if (period.state === "unknown") {
      return [{ level: "info", message: `Skipped: retention_policy.retention_period is ${JSON.stringify(period.raw)}.` }];
    }
    return period.state === "known" && period.value > 0
      ? []
      : [{ message: "This audit bucket has no retention policy, so audit records can be deleted or overwritten. Set retention_policy { retention_period = <seconds> } (and lock it once the period is agreed)." }];
  },
};
