/**
 * IAM members for stage-2 access: one principal set per approved image digest, with
 * an IAM condition when the approval expires.
 */
import { Approval, CleanRoomPolicy, approvalsFor } from "./model";

/** An IAM condition that limits a bucket role to the objects under `prefix` of `bucket`. */
export function objectPrefixCondition(bucket: string, prefix: string, title: string, description: string): IamCondition {
  return { title, description, expression: `resource.name.startsWith("projects/_/buckets/${bucket}/objects/${prefix}")` };
}

export interface IamCondition {
  readonly title: string;
  readonly description: string;
  readonly expression: string;
}

export interface DatasetMember {
  /** `principalSet://…/attribute.image_digest/<digest>` */
  readonly member: string;
  readonly imageDigest: string;
  /** The approvals this member stands for (one digest may be approved more than once). */
  readonly approvals: readonly Approval[];
  /** Absent when some approval for this digest never expires. */
  readonly condition?: IamCondition;
}

/** The workload identity pool, as the resource name prefix Google uses in principals. */
export interface PoolRef {
  /** Project number (may be a Terraform token: `${data.google_project.x.number}`). */
  readonly projectNumber: string;
  readonly poolId: string;
}

export function principalSetForDigest(pool: PoolRef, imageDigest: string): string {
  return (
    `principalSet://iam.googleapis.com/projects/${pool.projectNumber}/locations/global/` +
    `workloadIdentityPools/${pool.poolId}/attribute.image_digest/${imageDigest}`
  );
}

/**
 * The first instant at which an approval no longer holds: `expires` names the last
 * valid day (UTC), so the end is the following midnight. Shared with the verifier
 * document so IAM and the verifier agree to the second.
 */
export function approvalEnd(expires: string): string {
  const day = new Date(`${expires}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().replace(".000Z", "Z");
}

export function expiryCondition(expires: string): IamCondition {
  return {
    title: `approval-until-${expires}`,
    description: `Clean-room approval valid through ${expires} (UTC)`,
    expression: `request.time < timestamp("${approvalEnd(expires)}")`,
  };
}

/**
 * Members for `dataset`, one per distinct approved digest, in policy order. When a
 * digest is approved several times, the widest approval wins: no condition if any
 * approval never expires, else the latest expiry.
 */
export function datasetMembers(policy: CleanRoomPolicy, dataset: string, pool: PoolRef): DatasetMember[] {
  const byDigest = new Map<string, Approval[]>();
  for (const approval of approvalsFor(policy, dataset)) {
    const list = byDigest.get(approval.imageDigest) ?? [];
    list.push(approval);
    byDigest.set(approval.imageDigest, list);
  }
  return [...byDigest.entries()].map(([imageDigest, approvals]) => {
    const neverExpires = approvals.some((a) => a.expires === undefined);
    const latest = approvals
      .map((a) => a.expires)
      .filter((e): e is string => e !== undefined)
      .sort()
      .pop();
    return {
      member: principalSetForDigest(pool, imageDigest),
      imageDigest,
      approvals,
      condition: neverExpires || latest === undefined ? undefined : expiryCondition(latest),
    };
  });
}
