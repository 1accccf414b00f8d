/**
 * Small pieces every construct family shares: labels, residency checks, IAM member
 * shapes. No resources are created here.
 */
import { ITerraformDependable, Token } from "cdktf";
import { IamCondition } from "../policy/members";
import { shortHash } from "../policy/names";
import { InvalidPropsError } from "../errors";

/** Labels every clean-room resource carries (values fit Google's label rules). */
export function cleanRoomLabels(roomName: string, component: string): Record<string, string> {
  return { "managed-by": "manatee-cdktf", "clean-room": roomName, component };
}

/**
 * Throw unless `location` lies inside the residency set. A location is inside when it
 * equals a residency region, or is a zone of one (`us-central1-a` in `us-central1`).
 */
export function requireInResidency(location: string, residency: readonly string[], field: string): void {
  if (Token.isUnresolved(location)) return;
  if (!isInResidency(location, residency)) {
    throw new InvalidPropsError(
      `${field} "${location}" lies outside the residency set [${residency.join(", ")}]. ` +
        `Choose a location in the residency set, or add its region to "residency" if the data owner allows it.`,
    );
  }
}

export function isInResidency(location: string, residency: readonly string[]): boolean {
  const loc = location.toLowerCase();
  return residency.some((r) => {
    const region = r.toLowerCase();
    return loc === region || (loc.startsWith(`${region}-`) && /^[a-z]$/.test(loc.slice(region.length + 1)));
  });
}

/** Terraform shape of an IAM condition block. */
export function conditionBlock(condition: IamCondition | undefined) {
  return condition
    ? { title: condition.title, description: condition.description, expression: condition.expression }
    : undefined;
}

/**
 * Label contract between the constructs and the guardrails (lib/checks): rules find
 * what a resource is in the clean room from these labels, whoever created it.
 */
export const CLEAN_ROOM_LABEL = {
  room: "clean-room",
  component: "component",
  dataset: "dataset",
  retentionDays: "retention-days",
} as const;

/** Values of the `component` label. */
export const COMPONENT = {
  stage1Bucket: "stage1",
  stage2Bucket: "stage2",
  hubBucket: "hub",
  auditBucket: "audit",
  datasetKey: "dataset-key",
  /** A dataset owners' signing key for per-job approvals (docs/job-path.md). */
  approverKey: "approver-key",
  /** The Artifact Registry repository a dataset's approvals (cosign signatures) are pushed to. */
  signatureRepository: "signature-repository",
  storageKey: "storage-key",
  receiptKey: "receipt-key",
  /** The one public bucket: the verifier's receipt JWKS (lib/checks/public-jwks.ts). */
  receiptJwks: "receipt-jwks",
  verifier: "verifier",
  teeWorkload: "tee-workload",
} as const;
export type ComponentLabel = (typeof COMPONENT)[keyof typeof COMPONENT];

/**
 * The `use` label of the one bucket a room makes public: the verifier's receipt JWKS, which relying
 * parties must fetch without credentials. MCR-IAM1 and MCR-GCS2 allow public read on exactly one
 * bucket labelled `component: receipt-jwks` and `use: public-receipt-jwks` (lib/checks/public-jwks.ts).
 */
export const PUBLIC_JWKS_USE = "public-receipt-jwks";

/**
 * What a single construct needs to know about its clean room. A `CleanRoomPolicy`
 * satisfies it as is, so constructs take `room: policy` when composed.
 */
export interface CleanRoomRef {
  readonly name: string;
  readonly project: string;
  readonly region: string;
  /** Regions every data location must lie in. */
  readonly residency: readonly string[];
}

/** What a workloads construct needs of its room: its name and project (and, for some, its region). */
export type CleanRoomIdentity = Pick<CleanRoomRef, "name" | "project"> & Partial<Pick<CleanRoomRef, "region" | "residency">>;

/**
 * The room a construct was given: `room` (the one way), or the deprecated `roomName` + `project`
 * (+ `region`) of earlier releases. Both, disagreeing, or neither is refused with the fix.
 */
export function roomOf(
  props: { readonly room?: CleanRoomIdentity; readonly roomName?: string; readonly project?: string; readonly region?: string },
  constructPath: string,
): CleanRoomIdentity {
  const legacy = props.roomName !== undefined || props.project !== undefined;
  if (props.room !== undefined) {
    const clash = (props.roomName !== undefined && props.roomName !== props.room.name) || (props.project !== undefined && props.project !== props.room.project);
    if (clash) {
      throw new InvalidPropsError(`"room" (${props.room.name} in ${props.room.project}) and the deprecated "roomName"/"project" (${props.roomName} in ${props.project}) disagree.`, {
        constructPath,
        property: "room",
        fix: "Pass only room (a CleanRoom's room, or the policy).",
      });
    }
    return { ...props.room, ...(props.room.region === undefined && props.region !== undefined ? { region: props.region } : {}) };
  }
  if (!legacy || props.roomName === undefined || props.project === undefined) {
    throw new InvalidPropsError(`no room: pass "room" (its name and project).`, { constructPath, property: "room", fix: "Pass room: the CleanRoom's room, or the policy." });
  }
  return { name: props.roomName, project: props.project, ...(props.region !== undefined ? { region: props.region } : {}) };
}

/** Options of a `grant*` method. */
export interface GrantOptions {
  /** IAM condition, e.g. an approval's expiry. @default - unconditional */
  readonly condition?: IamCondition;
  /**
   * Resources the grant must wait for, e.g. the workload identity pool its principal set
   * names (IAM rejects principals of a pool that does not exist yet).
   * @default []
   */
  readonly dependsOn?: ITerraformDependable[];
  /** Construct id of the grant. @default - derived from role and member */
  readonly id?: string;
}

/** Accept either `GrantOptions` or a bare IAM condition (the short form `grantRead(member, condition)`). */
export function toGrantOptions(options?: GrantOptions | IamCondition): GrantOptions {
  if (options === undefined) return {};
  return "expression" in options ? { condition: options as IamCondition } : (options as GrantOptions);
}

/**
 * Throw on members no clean-room grant may name: the public, every Google account, or a
 * whole workload identity pool (which would admit any attested image, approved or not).
 */
export function requireGrantableMember(member: string, field: string): void {
  // No early return for tokens: a principal set embedding a project-number token is still checked.
  if (member.trim() === "") {
    throw new InvalidPropsError(`${field} is empty. Pass an IAM principal such as "group:analysts@example.org".`);
  }
  if (member === "allUsers" || member === "allAuthenticatedUsers") {
    throw new InvalidPropsError(
      `${field} "${member}" would make clean-room data public. Grant a named principal ` +
        `(user:, group:, serviceAccount:, or a principalSet of one approved image digest).`,
    );
  }
  if (/^principalSet:\/\/.*\/workloadIdentityPools\/[^/]+\/\*$/.test(member)) {
    throw new InvalidPropsError(
      `${field} "${member}" names a whole workload identity pool, which admits every attested image. ` +
        `Grant the principal set of an approved image digest (principalSetForDigest) instead.`,
    );
  }
}

/**
 * A stable construct id for a grant: `<prefix>-<hash of member and condition>` when the member
 * is known at synth time, so reordering grants never renames their Terraform addresses.
 * Returns undefined for a token member: the caller must then pass an explicit id.
 */
export function grantIdFor(prefix: string, member: string, condition?: IamCondition): string | undefined {
  if (Token.isUnresolved(member)) return undefined;
  return `${prefix}-${shortHash(`${member}|${condition?.expression ?? ""}`, 8)}`;
}
