/**
 * The access report's section on administrators: the operators the policy names may hold
 * project roles that change IAM, the workload identity pool, keys or storage (MCR-IAM4 refuses
 * them for anyone else), so each of them could reach stage-2 data without attestation.
 */
import { ADMIN_ROLES } from "../checks/rules/admin-roles";
import { CleanRoomPolicy, operatorsOf } from "../policy/model";
import { bullets, code, text } from "./markdown";
import { ReportSection } from "./sections";

export const operatorsSection: ReportSection = {
  title: "Who could reach stage-2 data outside the attestation path",
  body: ({ policy }) => operatorsBody(policy),
};

function operatorsBody(policy: CleanRoomPolicy): string {
  const operators = operatorsOf(policy);
  return [
    `These principals may hold administrative roles on project ${code(policy.project)} (${ADMIN_ROLES.map(code).join(", ")}, ` +
      "or custom roles that change IAM, the pool or keys). Any of them could grant itself decrypt, add a provider to the data pool, " +
      "or read the buckets: the room's guarantees hold only as long as they do not. The guardrails (MCR-IAM4) refuse such roles " +
      "for anyone not listed here.",
    "",
    bullets(operators.map((o) => code(o)), "- none in the policy (no principal in the configuration may hold an administrative project role)"),
    "",
    text(
      "Not listed, and not preventable from inside the project: administrators of the organisation or folders above it, and Google itself. " +
        "Splitting the room across projects (one per data owner, with its own pool and keys) narrows who that is per dataset.",
    ),
  ].join("\n");
}
