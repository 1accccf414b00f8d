/**
 * MCR-GCS5: every bucket enforces public access prevention, so no later IAM change can make
 * it public. The receipt JWKS bucket is public by design (lib/checks/public-jwks.ts):
 * "inherited" is its one allowance, and MCR-IAM1 checks its only public grant.
 */
import { Rule } from "../model";
import { isLabelledPublicJwksBucket, publicJwksBucketProblem } from "../public-jwks";
import { readString } from "../../analysis/values";

export const bucketPublicAccess: Rule = {
  id: "MCR-GCS5",
  level: "error",
  title: "Buckets enforce public access prevention",
  resourceTypes: ["google_storage_bucket"],
  check(bucket, index) {
    const pap = readString(bucket.config.public_access_prevention);
    if (pap.state === "unknown") {
      return [{ level: "warning", message: `Cannot tell whether public access prevention is enforced (it is ${JSON.stringify(pap.raw)}). Set public_access_prevention = "enforced".` }];
    }
    if (pap.state === "known" && pap.value === "enforced") return [];
    const publicJwks = isLabelledPublicJwksBucket(bucket) && publicJwksBucketProblem(bucket, index) === undefined;
    if (publicJwks && pap.state === "known" && pap.value === "inherited") return [];
    return [
      {
        message: `public_access_prevention is ${pap.state === "known" ? `"${pap.value}"` : "not set (inherited)"}: the bucket can be made public by a later IAM change. Set public_access_prevention = "enforced".`,
      },
    ];
  },
};
