/**
 * The `## ` sections of the access report after its header, each rendered from the same
 * inputs. `access-report.ts` lists them in order: a new section is one more entry there.
 */
import { APPROVER_SIGNATURE_ALGORITHM, ATTRIBUTE_MAPPING } from "../policy/condition";
import { CleanRoomPolicy } from "../policy/model";
import { AccessModel } from "./access-model";
import { CrossCheckResult } from "./cross-check";
import { datasetSection } from "./dataset-section";
import { SynthesizedStack } from "./infrastructure";
import { bullets, code, fenced, status, table, text } from "./markdown";
import { accessDiagram } from "./mermaid";
import { ReportSuppression } from "./suppressions";

/** What every section of the report is rendered from. */
export interface ReportInput {
  readonly policy: CleanRoomPolicy;
  readonly model: AccessModel;
  /** The synthesized stacks the report was given (read them with lib/analysis); empty when none. */
  readonly stacks: readonly SynthesizedStack[];
  /** The cross-check of `model` with `stacks`, when stacks were given. */
  readonly checked?: CrossCheckResult;
  /** Guardrail suppressions in force: given ones and those recorded in `stacks`, without repeats. */
  readonly suppressions: readonly ReportSuppression[];
}

/** One `## title` section of the report; a body of `undefined` leaves the section out. */
export interface ReportSection {
  readonly title: string;
  body(input: ReportInput): string | undefined;
}

function noticeList({ model, checked, suppressions }: ReportInput): string[] {
  const out: string[] = [];
  for (const a of model.datasets) {
    if (a.dataset.stage1.kind === "none") {
      out.push(`**Stage-1 data of ${code(a.dataset.name)} is NOT weakened**: researchers read the real data in stage 1.`);
    }
    if (a.stage2Principals.length === 0 && !a.jobApproval.enabled) {
      out.push(`No image is approved for ${code(a.dataset.name)}: its stage-2 data cannot be read by any workload.`);
    }
    if (!a.jobApproval.enabled && a.dataset.owners.length > 0) {
      // Without owners nobody could sign: the dataset section says so, no notice needed.
      out.push(
        `Per-job approval is off for ${code(a.dataset.name)}: the room file names no approver key fingerprint ` +
          `(${code(`manatee jobs approver-key --dataset ${a.dataset.name}`)} prints it after the first deploy).`,
      );
    }
  }
  if (model.policy.tee.allowDebug) {
    out.push(
      "**Debug Confidential Space images are allowed** (`tee.allowDebug`): an operator can inspect a running TEE. Never put production data in this room.",
    );
  }
  for (const view of model.approvals) {
    if (view.expired) {
      out.push(
        `Approval of ${code(view.approval.imageDigest)} (${text(view.approval.purpose)}) **expired** on ${code(view.notAfter ?? "")}; its grants remain declared but no longer hold.`,
      );
    }
  }
  const errors = checked?.findings.filter((f) => f.level === "error").length ?? 0;
  if (errors > 0) {
    out.push(`**${errors} cross-check error${errors === 1 ? "" : "s"}**: the synthesized infrastructure differs from this report (see the last section).`);
  }
  if (suppressions.length > 0) {
    out.push(`${suppressions.length} guardrail finding${suppressions.length === 1 ? " is" : "s are"} suppressed (see "Suppressed guardrail findings").`);
  }
  return out;
}

export function uniqueSuppressions(list: readonly ReportSuppression[]): ReportSuppression[] {
  const seen = new Set<string>();
  return list.filter((s) => {
    const key = JSON.stringify([s.ruleId, s.path, s.reason]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function suppressionTable(suppressions: readonly ReportSuppression[]): string {
  if (suppressions.length === 0) return "None: every guardrail applies to every resource.";
  const sorted = [...suppressions].sort((a, b) =>
    a.path === b.path ? (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0) : a.path < b.path ? -1 : 1,
  );
  return table(
    ["Rule", "Resource", "Reason"],
    sorted.map((s) => [code(s.ruleId), code(s.path), text(s.reason)]),
  );
}

function perJobSummary(model: AccessModel): string {
  if (model.datasets.length === 0) return "No datasets.";
  return table(
    ["Dataset", "Per-job approval", "Approver key fingerprint", "Job pool"],
    model.datasets.map((a) => [
      code(a.dataset.name),
      a.jobApproval.enabled ? "**on**" : "off",
      a.jobApproval.fingerprint !== undefined ? code(a.jobApproval.fingerprint) : "none in the room file",
      a.jobApproval.pool ? code(a.jobApproval.pool.poolId) : "none",
    ]),
  );
}

function crossCheckBody(checked: CrossCheckResult, stackCount: number): string {
  const intro =
    `Compared ${checked.grantsCompared} IAM grant${checked.grantsCompared === 1 ? "" : "s"} on the dataset buckets, dataset and approver keys and reader service accounts ` +
    `of ${stackCount} synthesized stack${stackCount === 1 ? "" : "s"} with this report, and checked bucket locations, lifecycle rules, key rotation ` +
    "and each job pool's provider (condition and mapping).";
  if (checked.findings.length === 0) return `${intro}\n\nNo discrepancies: the infrastructure grants exactly what this report states.`;
  return `${intro}\n\n${table(
    ["Level", "Subject", "Finding"],
    checked.findings.map((f) => [f.level === "error" ? "**error**" : "warning", code(f.subject), text(f.message)]),
  )}`;
}

export const notices: ReportSection = { title: "Notices", body: (input) => bullets(noticeList(input), "- none") };

export const diagram: ReportSection = { title: "Diagram", body: ({ model }) => fenced("mermaid", accessDiagram(model)) };

export const datasets: ReportSection = {
  title: "Datasets",
  body: ({ model, checked }) => model.datasets.map((a) => datasetSection(model, a, checked)).join("\n\n"),
};

export const attestationRequirements: ReportSection = {
  title: "Attestation requirements",
  body: ({ model }) =>
    [
      `A stage-2 workload gets a Google credential only when its Confidential Space attestation token satisfies the attribute ` +
        `condition of the workload identity provider ${code(model.identities.providerId)} in pool ${code(model.identities.poolId)}. Google STS evaluates it ` +
        "on every token exchange; the verifier evaluates the same string before it signs a receipt.",
      "",
      fenced("cel", model.attributeCondition),
      "",
      "Clause by clause (all must hold):",
      "",
      bullets(model.clauses.map((c) => `${code(c.cel)}: ${text(c.meaning)}`)),
      "",
      `The condition names no image. The provider maps ${code("attribute.image_digest")} from ` +
        `${code(ATTRIBUTE_MAPPING["attribute.image_digest"])}, and every stage-2 grant names the principal set of one approved digest, ` +
        "so a workload that meets the condition but runs any other image obtains a credential that opens nothing.",
    ].join("\n"),
};

export const approvedImages: ReportSection = {
  title: "Approved images",
  body: ({ model }) =>
    model.approvals.length === 0
      ? "No image is approved: no workload can read stage-2 data."
      : table(
          ["Image digest", "Purpose", "Approved by", "Expires", "Status", "Datasets"],
          model.approvals.map((v) => [
            code(v.approval.imageDigest),
            text(v.approval.purpose),
            text(v.approval.approvedBy),
            v.approval.expires !== undefined ? `${text(v.approval.expires)} (access ends ${code(v.notAfter ?? "")})` : "never",
            status(v.expired, v.approval.expires),
            v.approval.datasets.map(code).join(", "),
          ]),
        ),
};

export const perJobApprovals: ReportSection = {
  title: "Per-job approvals: what an approval can and cannot do",
  body: ({ model }) =>
    [
      perJobSummary(model),
      "",
      `An approval is a signature (${code(APPROVER_SIGNATURE_ALGORITHM)}) by a dataset's approver key over one image digest. ` +
        "It names that digest and nothing else: no researcher, no job, no date, no dataset beyond the key's own. " +
        "It never expires, and it can be replayed: every relaunch of that digest is admitted again. " +
        "Deleting the signature from the repository revokes nothing: a copy, pushed to any repository named at launch, still verifies. " +
        "Revocation is a new approver key version: a new fingerprint in the room file, then a deploy; every earlier approval of that dataset then stops working. " +
        `Each relaunch of one digest shows as a separate ${code("launched")} record in the job service's audit log.`,
    ].join("\n"),
};

export const verifierAndReceipts: ReportSection = {
  title: "Verifier and release receipts",
  body: ({ policy, model }) =>
    [
      bullets([
        `A stage-2 workload asks Confidential Space for a token with audience ${code(policy.verifier.audience)} and a nonce bound to its output, ` +
          `and presents it to the verifier (service account ${code(model.identities.verifierServiceAccount)}) with the dataset name.`,
        `The verifier enforces the verifier policy document with sha256 ${code(model.verifierPolicySha256)} ` +
          `(${code("npx manatee policy --config FILE")} prints it). Every receipt carries this hash as ${code("policy_sha256")}.`,
        `A receipt proves that the verifier checked a Google-signed Confidential Space token for this audience, that the attribute ` +
          `condition above held, that the token's image digest was approved for the named dataset and not expired at that moment, and ` +
          `that the token carried the receipt's ${code("nonce")}. It is an ES256 JWS (${code("typ")} ${code("manatee-receipt+jwt")}) ` +
          `naming ${["clean_room", "dataset", "image_digest", "nonce", "token_sha256", "policy_sha256", "approval", "iat"].map(code).join(", ")}.`,
        "A receipt does not prove that an output is safe to release or free of personal data: that stays a human decision.",
      ]),
      "",
      "Verify a receipt offline (fetch the verifier's public keys once and keep them with the audit records):",
      "",
      fenced("sh", ["curl -s \"$VERIFIER_URL/v1/jwks\" > jwks.json", "npx manatee verify-receipt receipt.jws --jwks jwks.json"].join("\n")),
      "",
      `Then check that ${code("clean_room")} is ${code(policy.name)}, that ${code("policy_sha256")} equals the hash above, ` +
        `that ${code("image_digest")} is approved for ${code("dataset")} in "Approved images", and that ${code("nonce")} matches the output you hold.`,
    ].join("\n"),
};

export const suppressedFindings: ReportSection = {
  title: "Suppressed guardrail findings",
  body: ({ suppressions }) => suppressionTable(suppressions),
};

/** Only when synthesized stacks were given. */
export const crossCheckWithStacks: ReportSection = {
  title: "Cross-check with the synthesized infrastructure",
  body: ({ checked, stacks }) => (checked ? crossCheckBody(checked, stacks.length) : undefined),
};
