/**
 * MCR-GCS1: stage-2 (real data) buckets are readable only by attested
 * workloads. Researchers work on stage-1 data; reading stage 2 outside the TEE is
 * exactly what the clean room exists to prevent.
 */
import { COMPONENT } from "../../internal/common";
import { attestedOnlyCheck } from "../attested-access";
import { bucketsReached, isBucketOrProjectIamType } from "../../analysis/iam";
import { Rule } from "../model";
import { componentOf } from "../../analysis/values";

/** Roles that read or list objects (or can grant that). */
export function grantsObjectRead(role: string): boolean {
  return (
    /^roles\/storage\.(objectViewer|objectUser|objectAdmin|admin|legacyObjectReader|legacyObjectOwner|legacyBucketReader|legacyBucketWriter|legacyBucketOwner)$/.test(role) ||
    role === "roles/owner" ||
    role === "roles/editor"
  );
}

const READ_PROTECTED = new Set<string>([COMPONENT.stage2Bucket]);

export const stage2BucketRead: Rule = {
  id: "MCR-GCS1",
  level: "error",
  title: "Only attested principals may read stage-2 buckets",
  resourceTypes: isBucketOrProjectIamType,
  check: attestedOnlyCheck({
    what: "stage-2 bucket",
    opaqueWhat: "a stage-2 bucket",
    reached: bucketsReached,
    isProtected: (b) => READ_PROTECTED.has(componentOf(b) ?? ""),
    grantsAccess: grantsObjectRead,
    fix: "Researchers read stage-1 buckets only; grant read access on stage-2 buckets to the approved images' principal sets (or the dataset's attested reader service account), and give uploaders roles/storage.objectCreator instead.",
  }),
};
