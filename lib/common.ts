/**
 * Small pieces every construct family shares: labels, residency checks, IAM member
 * shapes. No resources are created here.
 */
import { Token } from "cdktf";
import { IamCondition } from "./policy/members";

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
    throw new Error(
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

/** One additive IAM grant: a member, optionally conditional. */
export interface IamGrant {
  readonly member: string;
  readonly condition?: IamCondition;
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
  outputsBucket: "outputs",
  hubBucket: "hub",
  auditBucket: "audit",
  datasetKey: "dataset-key",
  storageKey: "storage-key",
  receiptKey: "receipt-key",
} as const;
export type ComponentLabel = (typeof COMPONENT)[keyof typeof COMPONENT];
