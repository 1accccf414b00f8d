/**
 * MCR-GCS4: every bucket uses uniform bucket-level access: IAM only, no object ACLs that
 * grant what IAM (and these guardrails) do not see.
 */
import { Rule } from "../model";
import { readBool } from "../../analysis/values";

export const bucketUniformAccess: Rule = {
  id: "MCR-GCS4",
  level: "error",
  title: "Buckets use uniform bucket-level access",
  resourceTypes: ["google_storage_bucket"],
  check(bucket) {
    const ubla = readBool(bucket.config.uniform_bucket_level_access);
    if (ubla.state === "unknown") {
      return [{ level: "warning", message: `Cannot tell whether uniform_bucket_level_access is on (it is ${JSON.stringify(ubla.raw)}). Set it to the literal true.` }];
    }
    if (ubla.state === "known" && ubla.value) return [];
    return [
      {
        message: `uniform_bucket_level_access is ${ubla.state === "absent" ? "not set (off)" : "false"}: object ACLs can grant access that IAM and these guardrails do not see. Set uniform_bucket_level_access = true.`,
      },
    ];
  },
};
