/**
 * Google's limits on one allow policy (the IAM policy of one bucket, key or service account),
 * and what the data plane puts in each dataset's policies. Pure: no cdktf imports.
 *
 * Every approved image is one principal set (`datasetMembers` merges repeated approvals of a
 * digest), and that principal set appears once per role on each resource it reaches. Google
 * groups a policy's members into bindings by (role, condition); the limits below count
 * principals across all of a policy's bindings.
 */
import { DatasetMember, datasetMembers } from "./members";
import { AccessMode, CleanRoomPolicy, DatasetPolicy } from "./model";
import { ERROR_CODES, InvalidPropsError, ManateeError } from "../errors";

/**
 * Documented IAM limits of one allow policy. Google enforces them when the policy is set, i.e.
 * at `terraform apply`, long after review; the library checks them at synth instead.
 */
export const IAM_POLICY_LIMITS = {
  /**
   * https://cloud.google.com/iam/docs/reference/rest/v1/Policy: "The `bindings` in a `Policy` can
   * refer to up to 1,500 principals; up to 250 of these principals can be Google groups. Each
   * occurrence of a principal counts towards these limits."
   * https://cloud.google.com/iam/quotas (Limits): "Total number of principals (including domains
   * and Google groups) in all role bindings and audit-logging exemptions within a single policy:
   * 1,500".
   * https://cloud.google.com/iam/docs/policies ("Limits for all principals") adds that with IAM
   * Conditions, or with many principals that have unusually long identifiers, IAM may allow
   * fewer. Approval grants are both: conditional and ~180-character principal sets.
   */
  principalsPerPolicy: 1500,
  /**
   * Same sources: "up to 250 of these principals can be Google groups"; the policies page counts
   * each distinct group once and each Cloud Identity / Workspace domain at every occurrence.
   */
  groupsAndDomainsPerPolicy: 250,
  /**
   * https://cloud.google.com/iam/quotas (Limits, "Policies and bindings"): "Role bindings in a
   * policy that include the same role and the same member, but different condition expressions:
   * 20". The data plane gives each principal one condition per role (the widest approval of its
   * digest), so it uses 1 of these 20.
   */
  bindingsPerRoleAndPrincipal: 20,
  /** https://cloud.google.com/iam/quotas: "Logic operators in a binding's condition expression: 12". Expiry conditions use none. */
  logicalOperatorsPerCondition: 12,
} as const;

/**
 * Approved images per reader service account in `impersonation` mode. A reader's allow policy
 * holds nothing but `roles/iam.workloadIdentityUser` for approved principal sets. Where the
 * library chooses (it cannot for a direct-mode bucket or key), it stays at two thirds of the
 * documented 1,500: Google warns that conditional grants to long identifiers (exactly these)
 * may fit fewer, and another reader costs one service account per 1,000 images.
 */
export const IMAGES_PER_READER = 1000;

/**
 * The reader service accounts of an `impersonation` dataset: consecutive runs of at most
 * `capacity` approved images, in policy order (appending an approval never moves an image to
 * another reader). Every reader holds the same grants on the dataset's bucket and key.
 */
export function partitionReaders<T>(members: readonly T[], capacity: number = IMAGES_PER_READER): T[][] {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new InvalidPropsError(`capacity must be a whole number of images of at least 1, got ${capacity}.`);
  }
  const shards: T[][] = [];
  for (let i = 0; i < members.length; i += capacity) shards.push(members.slice(i, i + capacity));
  // A dataset without approvals keeps one reader: its grants exist before the first approval.
  return shards.length > 0 ? shards : [[]];
}

/** The allow policies of one dataset's resources, as counts. */
export type DatasetPolicyResource = "stage-1 bucket" | "stage-2 bucket" | "dataset key" | "reader service account";

export interface AllowPolicyLoad {
  readonly resource: DatasetPolicyResource;
  /** Which reader (1-based) for `reader service account`. */
  readonly reader?: number;
  /** Principal occurrences across the policy's bindings, as Google counts them. */
  readonly principals: number;
  /** Distinct groups plus every occurrence of a domain. */
  readonly groupsAndDomains: number;
}

export interface DatasetIamLoad {
  readonly dataset: string;
  readonly access: AccessMode;
  /** Distinct approved images (principal sets). */
  readonly approvedImages: number;
  /** Reader service accounts (`impersonation` mode), else 0. */
  readonly readers: number;
  readonly owners: number;
  readonly policies: readonly AllowPolicyLoad[];
}

function groupsAndDomains(members: readonly string[]): number {
  return new Set(members.filter((m) => m.startsWith("group:"))).size + members.filter((m) => m.startsWith("domain:")).length;
}

function load(resource: DatasetPolicyResource, members: readonly string[], reader?: number): AllowPolicyLoad {
  return { resource, ...(reader ? { reader } : {}), principals: members.length, groupsAndDomains: groupsAndDomains(members) };
}

/** A stand-in pool: counting needs the number of principal sets, not their text. */
const COUNTING_POOL = { projectNumber: "0", poolId: "pool" };

/** A stand-in for the dataset's job pool group (`…/group/job-approved`): a principal set, not a Google group. */
const COUNTING_JOB_GROUP = "principalSet://job-approved";

/**
 * What CleanRoomDataPlane (with CleanRoom's stage-1 grant to the JupyterLab account) puts in the
 * allow policies of one dataset: test/scale.test.ts compares these counts with a synthesized room.
 *
 * With per-job approval on (`approverKey.fingerprint`), the job pool's group holds read on the
 * stage-2 bucket and decrypt with the key (direct), or may impersonate the first reader
 * (impersonation). Each reader also holds the SDK's bucket-get role on the stage-2 bucket: a second
 * occurrence of the same principal, which Google counts again.
 */
export function datasetIamLoad(policy: CleanRoomPolicy, dataset: DatasetPolicy, members?: readonly DatasetMember[]): DatasetIamLoad {
  const images = (members ?? datasetMembers(policy, dataset.name, COUNTING_POOL)).map((m) => m.member);
  const owners = dataset.owners;
  const jobGroup = dataset.approverKey !== undefined ? [COUNTING_JOB_GROUP] : [];
  // Stage 1: researchers and the JupyterLab pods read, owners upload.
  const stage1 = [...policy.researchers, "serviceAccount:jupyterlab", ...owners];
  if (dataset.access === "direct") {
    return {
      dataset: dataset.name,
      access: dataset.access,
      approvedImages: images.length,
      readers: 0,
      owners: owners.length,
      policies: [
        load("stage-1 bucket", stage1),
        load("stage-2 bucket", [...images, ...jobGroup, ...owners]),
        load("dataset key", [...images, ...jobGroup, ...owners]),
      ],
    };
  }
  const shards = partitionReaders(images);
  const readers = shards.map((_, i) => `serviceAccount:reader-${i}`);
  return {
    dataset: dataset.name,
    access: dataset.access,
    approvedImages: images.length,
    readers: shards.length,
    owners: owners.length,
    policies: [
      load("stage-1 bucket", stage1),
      // Each reader twice: objectViewer and the SDK's bucket-get custom role.
      load("stage-2 bucket", [...readers, ...readers, ...owners]),
      load("dataset key", [...readers, ...owners]),
      ...shards.map((shard, i) => load("reader service account", i === 0 ? [...shard, ...jobGroup] : shard, i + 1)),
    ],
  };
}

export class IamPolicyLimitError extends ManateeError {
  constructor(
    readonly dataset: string,
    message: string,
  ) {
    super(ERROR_CODES.limitExceeded, message);
  }
}

const n = (value: number) => value.toLocaleString("en-US");
const ownerCount = (count: number) => `${n(count)} data owner${count === 1 ? "" : "s"}`;

/** Why one policy is over a limit, and what to change; undefined when it fits. */
function overLimit(policy: CleanRoomPolicy, load: DatasetIamLoad, p: AllowPolicyLoad): string | undefined {
  const { principalsPerPolicy: maxPrincipals, groupsAndDomainsPerPolicy: maxGroups } = IAM_POLICY_LIMITS;
  const where = `Dataset "${load.dataset}": the allow policy of its ${p.resource} would hold`;
  if (p.principals > maxPrincipals) {
    if (p.resource === "stage-1 bucket") {
      return (
        `${where} ${n(p.principals)} principals (${n(policy.researchers.length)} researchers, the JupyterLab service account ` +
        `and ${ownerCount(load.owners)}), over Google's limit of ${n(maxPrincipals)} per allow policy. ` +
        `List researchers and datasets.${load.dataset}.owners as Google groups (group:…) instead of one principal each.`
      );
    }
    if (load.access === "direct" && load.approvedImages > 0) {
      const dataset = policy.datasets.find((d) => d.name === load.dataset);
      const parts = [`${n(load.approvedImages)} approved images`];
      if (dataset?.approverKey !== undefined) parts.push("the per-job approval group");
      if (load.owners > 0) parts.push(ownerCount(load.owners));
      const list = parts.length > 1 ? `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}` : parts[0];
      return (
        `${where} ${n(p.principals)} principals (${list}), over Google's limit of ` +
        `${n(maxPrincipals)} per allow policy. A direct-mode policy cannot be split: set datasets.${load.dataset}.access: impersonation ` +
        `(approved images then impersonate reader service accounts of up to ${n(IMAGES_PER_READER)} images each, and only those ` +
        `readers hold grants on the buckets and key), or remove approvals that have expired.`
      );
    }
    return (
      `${where} ${n(p.principals)} principals, over Google's limit of ${n(maxPrincipals)} per allow policy. ` +
      `List datasets.${load.dataset}.owners as a Google group (group:…) instead of one principal each.`
    );
  }
  if (p.groupsAndDomains > maxGroups) {
    return (
      `${where} ${n(p.groupsAndDomains)} Google groups and domains, over Google's limit of ${n(maxGroups)} per allow policy. ` +
      `Nest them in fewer groups.`
    );
  }
  return undefined;
}

/** Every allow policy of the room's datasets that would break a limit, as messages naming the dataset, count, limit and fix. */
export function iamLimitViolations(policy: CleanRoomPolicy): string[] {
  const out: string[] = [];
  for (const dataset of policy.datasets) {
    const load = datasetIamLoad(policy, dataset);
    for (const p of load.policies) {
      const why = overLimit(policy, load, p);
      if (why) out.push(why);
    }
  }
  return out;
}

/** Throw IamPolicyLimitError for the first dataset whose allow policies break a limit. */
export function assertWithinIamLimits(policy: CleanRoomPolicy, dataset: DatasetPolicy, members?: readonly DatasetMember[]): DatasetIamLoad {
  const load = datasetIamLoad(policy, dataset, members);
  for (const p of load.policies) {
    const why = overLimit(policy, load, p);
    if (why) throw new IamPolicyLimitError(dataset.name, why);
  }
  return load;
}
