/**
 * MCR-GCS2: buckets that hold clean-room data (stage-1, stage-2, hub, audit) are encrypted
 * with a customer-managed key, so the room, not Google's default key, decides who can decrypt.
 */
import { COMPONENT } from "../../internal/common";
import { Rule } from "../model";
import { componentOf, dig } from "../../analysis/values";

/** Components whose buckets hold room data and need CMEK. */
export const CMEK_COMPONENTS = new Set<string>([
  COMPONENT.stage1Bucket,
  COMPONENT.stage2Bucket,
  COMPONENT.hubBucket,
  COMPONENT.auditBucket,
]);

export const bucketCmek: Rule = {
  id: "MCR-GCS2",
  level: "error",
  title: "Buckets that hold clean-room data use a customer-managed key",
  resourceTypes: ["google_storage_bucket"],
  check(bucket) {
    const component = componentOf(bucket);
    if (!component || !CMEK_COMPONENTS.has(component)) return [];
    const key = dig(bucket.config, "encryption.default_kms_key_name");
    if (key !== undefined && key !== null && key !== "") return [];
    return [
      {
        message: `This ${component} bucket holds clean-room data but has no customer-managed key. Set encryption.default_kms_key_name to a KMS key in the bucket's location (and grant the Cloud Storage service agent roles/cloudkms.cryptoKeyEncrypterDecrypter on it).`,
      },
    ];
  },
};
