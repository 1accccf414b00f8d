/**
 * The access report's sections on a consortium room's parties (docs/consortium-contract.md): per
 * party, its project and pool, its datasets, the approvals it gave, which other parties' datasets
 * each of its digests is also approved for, and who could reach its data without attestation.
 * Absent for a single-project room.
 */
import { approvalsOfParty, datasetsOfParty, isConsortium, partiesOf } from "../policy/consortium";
import { Approval, CleanRoomPolicy, PartyPolicy } from "../policy/model";
import { partyPoolId } from "../analysis/parties";
import { AccessModel } from "./access-model";
import { bullets, code, status, table, text } from "./markdown";
import { ReportSection } from "./sections";

export const partySections: ReportSection = {
  title: "Parties",
  body: ({ policy, model }) => (isConsortium(policy) ? partiesOf(policy).map((p) => partyBody(policy, model, p)).join("\n\n") : undefined),
};

function partyBody(policy: CleanRoomPolicy, model: AccessModel, party: PartyPolicy): string {
  const datasets = datasetsOfParty(policy, party.name);
  const approvals = approvalsOfParty(policy, party.name);
  return [
    `### Party ${code(party.name)}`,
    "",
    table(
      ["Fact", "Value"],
      [
        ["Project", code(party.project)],
        ["Workload identity pool", `${code(partyPoolId(policy.name, party.name))} in ${code(party.project)}, admitting only ${code(model.identities.teeServiceAccount)} VMs of ${code(policy.project)}`],
        ["Approvals signed", party.approvalsKey ? "yes: only approvals under its pinned key count" : "no: the room file is trusted for them"],
      ],
    ),
    "",
    "Datasets:",
    "",
    datasets.length === 0
      ? "- none"
      : table(
          ["Dataset", "Stage 1", "Retention (days)", "Owners"],
          datasets.map((d) => [code(d.name), code(d.stage1.kind), String(d.retentionDays), d.owners.map(code).join(", ") || "none"]),
        ),
    "",
    "Approvals it gave, and the other parties' datasets the same image is approved for (a job may combine them):",
    "",
    approvals.length === 0
      ? "- none: no workload can read its stage-2 data"
      : table(
          ["Image digest", "Datasets", "Purpose", "Approved by", "Status", "Also approved for"],
          approvals.map((a) => [
            code(a.imageDigest),
            a.datasets.map(code).join(", "),
            text(a.purpose),
            code(a.approvedBy),
            status(model.approvals.find((v) => v.approval === a)?.expired, a.expires),
            alsoApprovedFor(policy, party, a),
          ]),
        ),
    "",
    `Who could reach its data outside the attestation path: **administrators of ${code(party.project)} only**.`,
    "",
    bullets([
      `The operator's administrators (of ${code(policy.project)}) cannot, as long as \`manatee check\` passes on every stack of the room: no operator stack may declare IAM in ${code(party.project)} (MCR-PTY2), ` +
        `no grant of this party may name an operator principal or another pool (MCR-PTY1), and its pool admits only the operator's TEE VMs (MCR-PTY3) running an image this party approved.`,
      `The other parties cannot: their stacks declare nothing in ${code(party.project)}, and a digest they approved reaches only their own datasets.`,
      text(`Not preventable from inside the project: administrators of the organisation or folders above ${party.project}, and Google (Confidential Space and the platform).`),
    ]),
  ].join("\n");
}

/** The other parties' datasets the same digest is approved for, as `dataset (party)`. */
function alsoApprovedFor(policy: CleanRoomPolicy, party: PartyPolicy, approval: Approval): string {
  const others = policy.approvals.filter((a) => a.imageDigest === approval.imageDigest && a.party !== undefined && a.party !== party.name);
  const items = [...new Set(others.flatMap((a) => a.datasets.map((d) => `${code(d)} (${code(a.party ?? "")})`)))];
  return items.join(", ") || "no other party";
}
