/**
 * MCR-GCS2: every bucket uses uniform bucket-level access (IAM only, no object ACLs
 * that bypass the rules above) and enforced public access prevention; buckets that hold
 * clean-room data are encrypted with a customer-managed key.
 */
import { COMPONENT } from "../../internal/common";
import { Rule, RuleResult } from "../model";
import { isLabelledPublicJwksBucket, publicJwksBucketProblem } from "../public-jwks";
import { componentOf, dig, readBool, readString } from "../../analysis/values";

/** Components whose buckets hold room data and need CMEK. */
export const CMEK_COMPONENTS = new Set<string>([
  COMPONENT.stage1Bucket,
  COMPONENT.stage2Bucket,
  COMPONENT.hubBucket,
  COMPONENT.auditBucket,
]);

export const bucketHardening: Rule = {
  id: "MCR-GCS2",
  level: "error",
  title: "Buckets enforce uniform access and public access prevention; data buckets use CMEK",
  resourceTypes: ["google_storage_bucket"],
  check(bucket, index) {
    const out: RuleResult[] = [];
    // The receipt JWKS bucket is public by design (lib/checks/public-jwks.ts): "inherited" is its one allowance.
    const publicJwks = isLabelledPublicJwksBucket(bucket) && publicJwksBucketProblem(bucket, index) === undefined;
    const ubla = readBool(bucket.config.uniform_bucket_level_access);
    if (ubla.state === "unknown") {
      out.push({ level: "warning", message: `Cannot tell whether uniform_bucket_level_access is on (it is ${JSON.stringify(ubla.raw)}). Set it to the literal true.` });
    } else if (!(ubla.state === "known" && ubla.value)) {
      out.push({
        message: `uniform_bucket_level_access is ${ubla.state === "absent" ? "not set (off)" : "false"}: object ACLs can grant access that IAM and these guardrails do not see. Set uniform_bucket_level_access = true.`,
      });
    }
    const pap = readString(bucket.config.public_access_prevention);
    if (pap.state === "unknown") {
      out.push({ level: "warning", message: `Cannot tell whether public access prevention is enforced (it is ${JSON.stringify(pap.raw)}). Set public_access_prevention = "enforced".` });
    } else if (publicJwks && pap.state === "known" && pap.value === "inherited") {
      // allowed: MCR-IAM1 checks that its only public grant is allUsers → objectViewer
    } else if (!(pap.state === "known" && pap.value === "enforced")) {
      out.push({
        message: `public_access_prevention is ${pap.state === "known" ? `"${pap.value}"` : "not set (inherited)"}: the bucket can be made public by a later IAM change. Set public_access_prevention = "enforced".`,
      });
    }
    const component = componentOf(bucket);
    if (component && CMEK_COMPONENTS.has(component)) {
      const key = dig(bucket.config, "encryption.default_kms_key_name");
      if (key === undefined || key === null || key === "") {
        out.push({
          message: `This ${component} bucket holds clean-room data but has no customer-managed key. Set encryption.default_kms_key_name to a KMS key in the bucket's location (and grant the Cloud Storage service agent roles/cloudkms.cryptoKeyEncrypterDecrypter on it).`,
        });
      }
    }
    return out;
  },
};
