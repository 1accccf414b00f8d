/**
 * MCR-GCS6: soft delete does not keep a data bucket's deleted objects restorable past the
 * dataset's retention. Google keeps them 7 days when `soft_delete_policy` is not set, so
 * the data outlives the retention MCR-GCS3 enforces. A warning: the objects are gone from
 * the bucket, but an admin can still restore them.
 */
import { Rule } from "../model";
import { dig, readNumber } from "../../analysis/values";
import { dataBucketRetention } from "./bucket-retention";

const DAY_SECONDS = 86_400;
const GOOGLE_DEFAULT_SECONDS = 7 * DAY_SECONDS;

export const bucketSoftDelete: Rule = {
  id: "MCR-GCS6",
  level: "warning",
  title: "Soft delete does not keep data past the dataset's retention",
  resourceTypes: ["google_storage_bucket"],
  check(bucket, _index, context) {
    const days = dataBucketRetention(bucket, context)?.days;
    // Without a known retention MCR-GCS3 already warns.
    if (days === undefined) return [];
    const softDelete = readNumber(dig(bucket.config, "soft_delete_policy.retention_duration_seconds"));
    if (softDelete.state === "unknown") {
      return [{ message: `Cannot tell how long soft delete keeps deleted objects (${JSON.stringify(softDelete.raw)} seconds).` }];
    }
    const softSeconds = softDelete.state === "absent" ? GOOGLE_DEFAULT_SECONDS : softDelete.value;
    if (softSeconds <= 0) return [];
    return [
      {
        message: `Soft delete keeps deleted objects restorable for ${(softSeconds / DAY_SECONDS).toFixed(1)} more days${softDelete.state === "absent" ? " (Google's default when soft_delete_policy is not set)" : ""}, so data outlives the dataset's ${days}-day retention. Set soft_delete_policy { retention_duration_seconds = 0 } (versioning already covers mistakes within the retention window).`,
      },
    ];
  },
};
