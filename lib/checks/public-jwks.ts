/**
 * The guardrails' one exception to "nothing public": the attestation verifier's receipt JWKS.
 * Receipts are meant to be checked by anyone (auditors, data owners, relying parties) without
 * a Google identity, and the verifier itself is internal and IAM-gated, so its public keys are
 * published as one object in a bucket that holds nothing else. The exception is keyed on the
 * bucket's labels (`component: receipt-jwks`, `use: public-receipt-jwks`), and holds only while:
 * - exactly one bucket of the room (its `clean-room` label; a stack may hold several rooms) carries
 *   those labels (a second "JWKS" bucket is refused);
 * - that bucket has uniform bucket-level access (no object ACLs) and no Terraform-managed objects;
 * - the public grant is `allUsers` → `roles/storage.objectViewer`, unconditioned (read, never list
 *   or write; `allAuthenticatedUsers` adds nothing a relying party needs).
 * MCR-IAM1 and MCR-GCS5 call `publicJwksBucketProblem`; every other public grant stays an error.
 */
import { CLEAN_ROOM_LABEL, COMPONENT, PUBLIC_JWKS_USE } from "../internal/common";
import { ResourceIndex, TfResource, wholeReference } from "../analysis/resource-index";
import { labelsOf, readBool, readString } from "../analysis/values";

export const PUBLIC_JWKS_ROLE = "roles/storage.objectViewer";
export const PUBLIC_JWKS_MEMBER = "allUsers";

/** Whether the bucket carries the public-JWKS labels (whether or not the exception then holds). */
export function isLabelledPublicJwksBucket(bucket: TfResource): boolean {
  if (bucket.type !== "google_storage_bucket" || bucket.mode !== "resource") return false;
  const labels = labelsOf(bucket);
  return labels[CLEAN_ROOM_LABEL.component] === COMPONENT.receiptJwks && labels.use === PUBLIC_JWKS_USE;
}

function labelledBuckets(index: ResourceIndex): TfResource[] {
  return index.cached("public-jwks:buckets", () => index.ofType("google_storage_bucket").filter(isLabelledPublicJwksBucket));
}

/**
 * Why `bucket` may NOT be the room's public JWKS bucket, or undefined when it may. Only a bucket
 * with the labels can be; the reasons name what to fix.
 */
export function publicJwksBucketProblem(bucket: TfResource, index: ResourceIndex): string | undefined {
  if (!isLabelledPublicJwksBucket(bucket)) {
    return `it is not the verifier's receipt JWKS bucket (labels ${CLEAN_ROOM_LABEL.component}=${COMPONENT.receiptJwks}, use=${PUBLIC_JWKS_USE})`;
  }
  const room = labelsOf(bucket)[CLEAN_ROOM_LABEL.room];
  const all = labelledBuckets(index).filter((b) => labelsOf(b)[CLEAN_ROOM_LABEL.room] === room);
  if (all.length !== 1) {
    return `${all.length} buckets carry the receipt JWKS labels (${all.map((b) => b.address).join(", ")}); a room has exactly one public bucket`;
  }
  const ubla = readBool(bucket.config.uniform_bucket_level_access);
  if (!(ubla.state === "known" && ubla.value)) return "the receipt JWKS bucket must have uniform_bucket_level_access = true (no object ACLs)";
  const objects = index.ofType("google_storage_bucket_object").filter((o) => wholeReference(o.config.bucket)?.address === bucket.address || bucketNameOf(bucket) === o.config.bucket);
  if (objects.length > 0) {
    return `the receipt JWKS bucket must hold only the verifier's jwks.json, but Terraform puts ${objects.map((o) => o.address).join(", ")} in it`;
  }
  return undefined;
}

function bucketNameOf(bucket: TfResource): string | undefined {
  const n = readString(bucket.config.name);
  return n.state === "known" ? n.value : undefined;
}

/** The stack's bucket an IAM resource's `bucket` field names, by reference or literal name. */
export function bucketTarget(value: unknown, index: ResourceIndex): TfResource | undefined {
  const ref = index.target(value);
  if (ref) return ref.resource.type === "google_storage_bucket" && ref.attribute === "name" ? ref.resource : undefined;
  if (typeof value !== "string") return undefined;
  return index.ofType("google_storage_bucket").find((b) => bucketNameOf(b) === value);
}
