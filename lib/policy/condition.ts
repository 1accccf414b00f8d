/**
 * The workload identity provider's attribute condition (CEL). The same string goes
 * into the verifier policy document, so Google's STS and our verifier decide on
 * exactly the same expression. Image digests are NOT part of it: they live in the
 * principal sets (members.ts), so the condition's length does not grow with approvals.
 */
import { CleanRoomPolicy } from "./model";
import { manateeContract } from "./names";

/** Google's limit on `attribute_condition` (IAM API, WorkloadIdentityPoolProvider). */
export const ATTRIBUTE_CONDITION_MAX_LENGTH = 4096;

export class AttributeConditionTooLongError extends Error {
  constructor(readonly length: number) {
    super(
      `The compiled attribute condition is ${length} characters; Google's limit is ` +
        `${ATTRIBUTE_CONDITION_MAX_LENGTH}. Reduce tee.hardware or shorten the project id.`,
    );
    this.name = "AttributeConditionTooLongError";
  }
}

/** A CEL single-quoted string literal. */
export function celString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** Each clause of the condition with a plain-words explanation (used by the access report). */
export interface ConditionClause {
  readonly cel: string;
  readonly meaning: string;
}

export function attributeConditionClauses(policy: CleanRoomPolicy): ConditionClause[] {
  const teeSa = manateeContract(policy.name, policy.project).teeServiceAccountEmail;
  const clauses: ConditionClause[] = [
    {
      cel: `assertion.swname == ${celString("CONFIDENTIAL_SPACE")}`,
      meaning: "The VM runs Google's Confidential Space image (not a plain VM).",
    },
  ];
  if (!policy.tee.allowDebug) {
    clauses.push(
      {
        cel: `${celString("STABLE")} in assertion.submods.confidential_space.support_attributes`,
        meaning:
          "The Confidential Space image is a supported production release (STABLE); debug images carry no support attributes.",
      },
      {
        cel: `assertion.dbgstat == ${celString("disabled-since-boot")}`,
        meaning: "Debugging has been disabled since boot: no operator shell, no SSH into the TEE.",
      },
    );
  }
  clauses.push(
    {
      cel: `assertion.secboot == true`,
      meaning: "The VM booted with Secure Boot.",
    },
    {
      cel: `assertion.hwmodel in [${policy.tee.hardware.map(celString).join(", ")}]`,
      meaning: `The hardware is one of the allowed confidential computing technologies: ${policy.tee.hardware.join(", ")}.`,
    },
    {
      cel: `assertion.submods.gce.project_id == ${celString(policy.project)}`,
      meaning: `The VM runs in the clean room's project ${policy.project}.`,
    },
    {
      cel: `${celString(teeSa)} in assertion.google_service_accounts`,
      meaning: `The VM runs as the clean room's TEE service account ${teeSa}.`,
    },
  );
  return clauses;
}

/** Compile the attribute condition; throws AttributeConditionTooLongError past 4096 characters. */
export function compileAttributeCondition(policy: CleanRoomPolicy): string {
  const condition = attributeConditionClauses(policy)
    .map((c) => c.cel)
    .join(" && ");
  if (condition.length > ATTRIBUTE_CONDITION_MAX_LENGTH) {
    throw new AttributeConditionTooLongError(condition.length);
  }
  return condition;
}

/**
 * The provider's attribute mapping. `google.subject` uses Google's compact `gcpcs::`
 * form: the VM selfLink in `assertion.sub` can exceed the 127-byte limit.
 * gcpcs:: (7) + digest (71) + :: + project number (<= 19) + :: + instance id (<= 20) = 121 bytes max.
 */
export const ATTRIBUTE_MAPPING: Readonly<Record<string, string>> = {
  "google.subject":
    '"gcpcs::" + assertion.submods.container.image_digest + "::" + assertion.submods.gce.project_number + "::" + assertion.submods.gce.instance_id',
  "attribute.image_digest": "assertion.submods.container.image_digest",
  "attribute.hwmodel": "assertion.hwmodel",
  "attribute.swversion": "assertion.swversion[0]",
};
