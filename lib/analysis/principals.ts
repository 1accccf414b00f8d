/**
 * Who an IAM member is, in clean-room terms. Only the principal set of an approved
 * image digest is an attested principal; a whole pool, a single federated subject or
 * any person is not.
 */
import { isUnresolved, wholeReference } from "./resource-index";

export type PrincipalKind =
  /** `principalSet://…/workloadIdentityPools/<pool>/attribute.image_digest/<digest>` */
  | "attested"
  /** `principalSet://…/workloadIdentityPools/<pool>/*`: every identity the pool admits. */
  | "pool"
  /** `allUsers`, `allAuthenticatedUsers` */
  | "public"
  | "serviceAccount"
  /** users, groups, domains, workforce identities, project convenience members */
  | "person"
  /** other federated principals (one subject, other attributes, GKE workload identities) */
  | "federated"
  /** a Terraform expression we cannot see through */
  | "unknown";

export interface Principal {
  readonly member: string;
  readonly kind: PrincipalKind;
  /** For `attested`: the digest after `attribute.image_digest/` (may be unresolved). */
  readonly digest?: string;
  /**
   * For `attested` per-job approvals: the group after `group/` (`job-approved`), which only a job
   * pool's provider maps, for tokens signed by the dataset's approver key (docs/job-path.md).
   */
  readonly group?: string;
  /** For `attested` and `pool`: the workload identity pool id, when literal. */
  readonly pool?: string;
  /** For `serviceAccount`: the email or the `${…}` expression naming it. */
  readonly account?: string;
}

const PRINCIPAL_SET = "principalSet://iam.googleapis.com/";
const POOL_SEGMENT = /(^|\/)workloadIdentityPools\/[^/]+$|^\$\{[^}]*\}$/;

/** A full image digest as Confidential Space tokens carry it. */
export const FULL_DIGEST = /^sha256:[0-9a-f]{64}$/;

export function classifyMember(member: string): Principal {
  if (member === "allUsers" || member === "allAuthenticatedUsers") return { member, kind: "public" };
  const ref = wholeReference(member);
  if (ref) {
    // `${google_service_account.x.member}` is `serviceAccount:<email>`.
    if (ref.address.startsWith("google_service_account.") && ref.attribute === "member") {
      return { member, kind: "serviceAccount", account: member };
    }
    return { member, kind: "unknown" };
  }
  if (member.startsWith("serviceAccount:")) {
    const account = member.slice("serviceAccount:".length);
    // GKE Workload Identity members are Kubernetes service accounts, not Google ones.
    if (/\.svc\.id\.goog\[/.test(account)) return { member, kind: "federated" };
    return { member, kind: "serviceAccount", account };
  }
  if (member.startsWith(PRINCIPAL_SET)) {
    const rest = member.slice(PRINCIPAL_SET.length);
    const attested = /^(.+)\/attribute\.image_digest\/([^/]+)$/.exec(rest);
    if (attested && POOL_SEGMENT.test(attested[1])) return { member, kind: "attested", digest: attested[2], pool: poolIdOf(attested[1]) };
    const group = /^(.+)\/group\/(job-approved)$/.exec(rest);
    if (group && POOL_SEGMENT.test(group[1])) return { member, kind: "attested", group: group[2], pool: poolIdOf(group[1]) };
    if (/\/\*$/.test(rest) && POOL_SEGMENT.test(rest.slice(0, -2))) return { member, kind: "pool", pool: poolIdOf(rest.slice(0, -2)) };
    if (rest.startsWith("locations/global/workforcePools/")) return { member, kind: "person" };
    return { member, kind: "federated" };
  }
  if (member.startsWith("principal://")) {
    return member.includes("/workforcePools/") ? { member, kind: "person" } : { member, kind: "federated" };
  }
  if (/^(user|group|domain|deleted:user|deleted:group|projectOwner|projectEditor|projectViewer):/.test(member)) {
    return { member, kind: "person" };
  }
  if (isUnresolved(member)) return { member, kind: "unknown" };
  return { member, kind: "person" };
}

function poolIdOf(prefix: string): string | undefined {
  return /(?:^|\/)workloadIdentityPools\/([^/$]+)$/.exec(prefix)?.[1];
}

/** How a finding names a principal kind. */
export function describeKind(p: Principal): string {
  switch (p.kind) {
    case "attested":
      return "attested principal set";
    case "pool":
      return "whole workload identity pool (any identity the pool admits, not one approved image)";
    case "public":
      return "public member";
    case "serviceAccount":
      return "service account";
    case "person":
      return "person or group";
    case "federated":
      return "federated principal that is not an approved image's principal set";
    case "unknown":
      return "unresolved member";
  }
}
