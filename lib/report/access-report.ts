/**
 * The auditor's access report: who may read, write and decrypt what in a clean room,
 * under which attestation, as Markdown with a Mermaid diagram. Rendered from the same
 * compiled policy as the infrastructure (names, principal sets, expiry, CEL, verifier
 * policy hash), optionally cross-checked against the synthesized stacks.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { synthesizedStackFiles } from "../analysis/synthesized";
import { join } from "node:path";
import { APPROVER_SIGNATURE_ALGORITHM, ATTRIBUTE_MAPPING, JOB_APPROVED_GROUP } from "../policy/condition";
import { IAM_POLICY_LIMITS, IMAGES_PER_READER } from "../policy/iam-limits";
import { CleanRoomPolicy, DatasetPolicy, Stage1Policy } from "../policy/model";
import {
  AccessModel,
  AccessModelOptions,
  DATA_PLANE_ROLES,
  DatasetAccess,
  Stage2Principal,
  buildAccessModel,
  sdkRoles,
} from "./access-model";
import { CrossCheckResult, crossCheck } from "./cross-check";
import { BucketFact, KeyFact, SynthesizedStack, readInfrastructure } from "./infrastructure";
import { bullets, code, fenced, table, text } from "./markdown";
import { accessDiagram } from "./mermaid";
import { ReportSuppression } from "./suppressions";
import { InvalidInputError } from "../errors";
import { operatorsSection } from "./operators";


/** The file `writeAccessReport` writes into the output directory. */
export const ACCESS_REPORT_FILE = "access-report.md";


export interface AccessReportOptions extends AccessModelOptions {
  /**
   * Guardrail suppressions in force; listed so a reviewer sees every exception. Suppressions
   * recorded in `synthesized` stacks are added. @default []
   */
  readonly suppressions?: readonly ReportSuppression[];
  /** Printed in the header; the report carries no timestamp otherwise. @default - none */
  readonly generatedAt?: string;
  /**
   * Synthesized stacks (parsed cdk.tf.json). When given, bucket and key facts come from
   * them and the report cross-checks every grant on the dataset resources.
   * @default - facts from the policy and the data plane's defaults, no cross-check
   */
  readonly synthesized?: SynthesizedStack | readonly SynthesizedStack[];
}

const DAY_SECONDS = 86_400;

/** Numbers without binary noise: 0.07 * 100 prints 7, not 7.000000000000001. */
function num(value: number): string {
  return String(Number(value.toPrecision(12)));
}

function yesNo(value: boolean): string {
  return value ? "**yes**" : "no";
}

function stage1Text(stage1: Stage1Policy): string {
  switch (stage1.kind) {
    case "dp-synthetic": {
      const params = [
        `mechanism ${code(stage1.mechanism ?? "unspecified")}`,
        `ε = ${stage1.epsilon !== undefined ? num(stage1.epsilon) : "unspecified"}`,
        ...(stage1.delta !== undefined ? [`δ = ${num(stage1.delta)}`] : []),
      ];
      return `differentially private synthetic data (${params.join(", ")}): no stage-1 record is a real record.`;
    }
    case "sample":
      return (
        `a random sample of the real data (fraction ${stage1.fraction !== undefined ? num(stage1.fraction) : "unspecified"}` +
        `${stage1.fraction !== undefined ? `, ${num(stage1.fraction * 100)}%` : ""}): fewer records, but each one is real.`
      );
    case "none":
      return "**stage-1 data is NOT weakened**: researchers and JupyterLab read the real data in stage 1 (kind `none`).";
    default:
      return `unknown kind ${code(String((stage1 as Stage1Policy).kind))}.`;
  }
}

function seconds(period: string | undefined): number | undefined {
  const match = period?.match(/^(\d+(?:\.\d+)?)s$/);
  return match ? Number(match[1]) : undefined;
}

function lifecycleFromPolicy(dataset: DatasetPolicy): string {
  return `deletes live objects and noncurrent versions older than ${dataset.retentionDays} days`;
}

function lifecycleFromFact(bucket: BucketFact): string {
  const rules = bucket.lifecycle.map((rule) => {
    const conditions = Object.entries(rule.condition)
      .filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(",") : String(v)}`);
    return `${rule.action} when ${conditions.join(", ") || "always"}`;
  });
  const softDelete =
    bucket.softDeleteSeconds === undefined
      ? "soft delete: Google's default (deleted objects recoverable 7 days)"
      : bucket.softDeleteSeconds === 0
        ? "soft delete: off"
        : `soft delete: ${num(bucket.softDeleteSeconds / DAY_SECONDS)} days`;
  return [...(rules.length > 0 ? rules : ["no lifecycle rules"]), softDelete].map(text).join("; ");
}

function until(principal: { until?: string; notAfter?: string }): string {
  return principal.until ? `${text(principal.until)} (access ends ${code(principal.notAfter ?? "")})` : "no expiry";
}

function status(expired: boolean | undefined, expires: string | undefined): string {
  if (expires === undefined) return "active, never expires";
  if (expired === undefined) return "not evaluated (no date given)";
  return expired ? "**EXPIRED**" : "active";
}

function stage2Table(principals: readonly Stage2Principal[], withReader = false): string {
  return table(
    ["Approved image", "Principal set", ...(withReader ? ["Impersonates"] : []), "Until", "Status", "Purpose"],
    principals.map((p) => [
      code(p.imageDigest),
      code(p.member),
      ...(withReader ? [code(`serviceAccount:${p.readerServiceAccount ?? ""}`)] : []),
      until(p),
      status(p.expired, p.until),
      p.approvals.map((a) => text(a.purpose)).join("; "),
    ]),
  );
}

/** Every reader of an impersonation dataset, in order. */
/** "Neither A nor B holds …" / "None of A, B nor C holds …": who could have been a writer. */
function writersNone(who: readonly string[]): string {
  if (who.length === 1) return `${who[0][0].toUpperCase()}${who[0].slice(1)} hold no object create anywhere.`;
  if (who.length === 2) return `Neither ${who[0]} nor ${who[1]} holds object create anywhere.`;
  return `None of ${who.slice(0, -1).join(", ")} nor ${who[who.length - 1]} holds object create anywhere.`;
}

function readersOf(access: DatasetAccess): readonly string[] {
  return access.readerServiceAccounts ?? (access.readerServiceAccount ? [access.readerServiceAccount] : []);
}

function bucketSection(access: DatasetAccess, checked: CrossCheckResult | undefined): string {
  const purposeLabel = { stage1: "stage-1 data", stage2: "stage-2 data" } as const;
  const rows = Object.values(access.buckets).map((b) => {
    const fact = checked?.buckets.get(b.name);
    return [
      purposeLabel[b.purpose],
      code(b.name),
      code(fact?.location ?? b.location),
      fact ? lifecycleFromFact(fact) : lifecycleFromPolicy(access.dataset),
    ];
  });
  return table(["Purpose", "Bucket", "Location", "Lifecycle"], rows);
}

function keySection(access: DatasetAccess, checked: CrossCheckResult | undefined): string {
  const fact: KeyFact | undefined = checked?.keys.get(`${access.key.keyRing}/${access.key.name}`);
  const rotationSeconds = fact ? seconds(fact.rotationPeriod) : access.key.rotationDays * DAY_SECONDS;
  const rotation =
    rotationSeconds !== undefined
      ? `every ${num(rotationSeconds / DAY_SECONDS)} days`
      : fact?.rotationPeriod !== undefined
        ? code(fact.rotationPeriod)
        : "**none**";
  const header = ["Key ring", "Key", "Location", "Rotation", ...(fact ? ["Protection"] : [])];
  const row = [
    code(access.key.keyRing),
    code(access.key.name),
    code(fact?.location ?? access.key.location),
    rotation,
    ...(fact ? [fact.protectionLevel ? code(fact.protectionLevel) : "provider default (SOFTWARE)"] : []),
  ];
  return table(header, [row]);
}

function datasetSection(model: AccessModel, access: DatasetAccess, checked: CrossCheckResult | undefined): string {
  const d = access.dataset;
  const readerGrants = access.grants.filter((g) => g.resource.name === access.buckets.stage1.name);
  const who = { researcher: "researcher", jupyterlab: "JupyterLab single-user pods", "data-owner": "data owner" } as const;
  const stage1Rows = readerGrants.map((g) => [
    code(g.member),
    who[g.principal as keyof typeof who] ?? g.principal,
    g.role === DATA_PLANE_ROLES.read
      ? `read (${code(g.role)})`
      : g.role === sdkRoles(model.policy).stage1Reader
        ? `read as ManaTEE's SDK does (${code(g.role)}: bucket get, object get and list)`
        : `write only (${code(g.role)}): no read`,
  ]);
  const lines: string[] = [
    `### Dataset ${code(d.name)}`,
    "",
    `- Retention: **${d.retentionDays} days**; the lifecycle rules below delete every object and every noncurrent version after that.`,
    `- Stage-1 data: ${stage1Text(d.stage1)}`,
    d.access === "impersonation"
      ? readersOf(access).length > 1
        ? `- Stage-2 access mode: **impersonation**: ${readersOf(access).length} reader service accounts ` +
          `(${readersOf(access).map(code).join(", ")}) hold the same stage-2 grants; each approved image reaches them only by ` +
          `impersonating its own reader (at most ${IMAGES_PER_READER.toLocaleString("en-US")} images per reader: Google caps an allow policy at ` +
          `${IAM_POLICY_LIMITS.principalsPerPolicy.toLocaleString("en-US")} principals).`
        : `- Stage-2 access mode: **impersonation**: the reader service account ${code(access.readerServiceAccount ?? "")} holds the stage-2 grants; approved images reach them only by impersonating it.`
      : "- Stage-2 access mode: **direct**: the principal sets of approved images hold the stage-2 grants themselves.",
    "",
    "#### Storage",
    "",
    bucketSection(access, checked),
    "",
    "#### Dataset key",
    "",
    keySection(access, checked),
    "",
    "#### Who can read stage-1 data",
    "",
    stage1Rows.length > 0 ? table(["Principal", "Who", "Access to the stage-1 bucket"], stage1Rows) : "No one.",
    "",
    "#### Who can read stage-2 data and decrypt",
    "",
  ];
  const principals = access.stage2Principals;
  const reader = access.readerServiceAccount;
  const jobs = access.jobApproval.enabled;
  if (principals.length === 0) {
    lines.push(
      jobs
        ? "No image has a standing approval for this dataset; only jobs its owners approve one by one (see \"Per-job approval\" below) can read its stage-2 data or decrypt with its key."
        : "**No one**: no image is approved for this dataset, so no workload can read its stage-2 data or decrypt with its key.",
    );
  } else if (readersOf(access).length > 1) {
    lines.push(
      `The reader service accounts ${readersOf(access).map((r) => code(`serviceAccount:${r}`)).join(", ")} each hold read ` +
        `(${code(DATA_PLANE_ROLES.read)}) on the stage-2 bucket and decrypt (${code(DATA_PLANE_ROLES.decrypt)}) with the dataset key. ` +
        `Only these principal sets may impersonate them (${code(DATA_PLANE_ROLES.impersonate)}), each only the reader named in its row ` +
        `and only from a workload that meets the attestation requirements:`,
      "",
      stage2Table(principals, true),
    );
  } else if (reader) {
    lines.push(
      `The reader service account ${code(`serviceAccount:${reader}`)} holds read (${code(DATA_PLANE_ROLES.read)}) on the stage-2 bucket ` +
        `and decrypt (${code(DATA_PLANE_ROLES.decrypt)}) with the dataset key. Only these principal sets may impersonate it ` +
        `(${code(DATA_PLANE_ROLES.impersonate)}), each only from a workload that meets the attestation requirements:`,
      "",
      stage2Table(principals),
    );
  } else {
    lines.push(
      `Only these principal sets hold read (${code(DATA_PLANE_ROLES.read)}) on the stage-2 bucket and decrypt ` +
        `(${code(DATA_PLANE_ROLES.decrypt)}) with the dataset key, each only from a workload that meets the attestation requirements:`,
      "",
      stage2Table(principals),
    );
  }
  lines.push(
    "",
    `No one else holds a grant on the stage-2 bucket or the key${jobs ? ` except the per-job approval group ${code(access.jobApproval.pool?.groupPrincipalSet ?? "")} (see "Per-job approval" below)` : ""}: ` +
      `not researchers, not the JupyterLab service account, not the TEE service account ${code(model.identities.teeServiceAccount)}.`,
    "",
    "#### Who writes outputs",
    "",
    `No principal of this dataset writes any bucket: results leave the TEE only through the quarantine bucket and the verifier's release ` +
      `(see "Verifier and release receipts" below). ` +
      `${writersNone([
        "the approved images",
        ...readersOf(access).map((r) => `the reader service account ${code(`serviceAccount:${r}`)}`),
        ...(jobs ? ["the per-job approval group"] : []),
      ])}`,
    "",
    "#### Data owners",
    "",
    bullets(
      d.owners.map(
        (o) =>
          `${code(o)}: uploads to the stage-1 and stage-2 buckets (${code(DATA_PLANE_ROLES.write)}) and wraps data keys with the dataset key ` +
          `(${code(DATA_PLANE_ROLES.encryptOnly)}: encrypt only, never decrypt).`,
      ),
      "- none declared",
    ),
    "",
    "#### Per-job approval",
    "",
    jobApprovalSection(access),
  );
  return lines.join("\n");
}

/** The dataset's per-job approval path (docs/job-path.md): on or off, who signs, what the job pool admits, who holds the grants. */
function jobApprovalSection(access: DatasetAccess): string {
  const job = access.jobApproval;
  const name = access.dataset.name;
  const key = `${job.approverKey.keyRing}/${job.approverKey.name}`;
  const signers =
    job.signers.length > 0
      ? `Only the dataset's owners ${job.signers.map(code).join(", ")} may sign with it (${code(DATA_PLANE_ROLES.sign)}) and push to the ` +
        "signature repository (`roles/artifactregistry.writer`); nobody else, in particular not the job service, which must never approve the jobs it runs."
      : "**Nobody may sign**: the dataset declares no owners, so no job of this dataset can be approved.";
  const existing = [
    `Approver key: ${code(key)} in ${code(job.approverKey.location)} (Cloud KMS, ${code(job.approverKey.algorithm)}). ${signers}`,
    `Signature repository: ${code(job.signatureRepository.path)}: ${code("manatee jobs approve")} pushes each approval (a cosign signature) here; ` +
      "the TEE is launched with it in `tee-signed-image-repos`, and the launcher verifies the signatures it finds.",
  ];
  const pool = job.pool;
  if (!pool) {
    return [
      `Per-job approval is **off**: the room file names no approver key fingerprint for ${code(name)}, so the room declares no job pool ` +
        "and no job can be approved; only the standing approvals above open its stage-2 data.",
      "",
      bullets(existing),
      "",
      `To turn it on: ${job.signers.length === 0 ? `declare the dataset's owners (${code(`datasets.${name}.owners`)}), who alone can sign; then, ` : ""}` +
        `after the first deploy (which creates the approver key), print the key's fingerprint with ` +
        `${code(`manatee jobs approver-key --dataset ${name}`)}, put it in ${code(`datasets.${name}.approverKey.fingerprint`)} in the room file, and deploy.`,
    ].join("\n");
  }
  // Impersonation: the group gets whatever the reader holds.
  const reach = access.readerServiceAccount
    ? `may impersonate the reader service account ${code(`serviceAccount:${access.readerServiceAccount}`)} (${code(DATA_PLANE_ROLES.impersonate)}), ` +
      "and so read the stage-2 bucket and decrypt with the dataset key, as the reader does"
    : `holds read (${code(DATA_PLANE_ROLES.read)}) on the stage-2 bucket and decrypt (${code(DATA_PLANE_ROLES.decrypt)}) with the dataset key, ` +
      "and nothing else";
  return [
    `Per-job approval is **on**: the room file names the approver key fingerprint ${code(job.fingerprint ?? "")}.`,
    "",
    bullets([
      ...existing,
      `Job pool / provider: ${code(pool.poolId)} / ${code(pool.providerId)}, this dataset's alone. Every token it admits is mapped to ` +
        `${code(`google.groups = ["${JOB_APPROVED_GROUP}"]`)}; a signature by another dataset's key is refused here, so an approval for one dataset never opens another.`,
      `Who holds the grant: the group ${code(pool.groupPrincipalSet)} ${reach}. ` +
        "No grant names the pool's `/*`.",
    ]),
    "",
    "The job provider admits a Confidential Space token only when every clause holds:",
    "",
    bullets(pool.clauses.map((c) => `${code(c.cel)}: ${text(c.meaning)}`)),
  ].join("\n");
}

function notices(model: AccessModel, checked: CrossCheckResult | undefined, suppressions: readonly ReportSuppression[]): string[] {
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

function uniqueSuppressions(list: readonly ReportSuppression[]): ReportSuppression[] {
  const seen = new Set<string>();
  return list.filter((s) => {
    const key = JSON.stringify([s.ruleId, s.path, s.reason]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function suppressionSection(suppressions: readonly ReportSuppression[]): string {
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

function crossCheckSection(checked: CrossCheckResult, stackCount: number): string {
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

/** Render the access report of `policy` as Markdown. Pure and deterministic for given options. */
export function renderAccessReport(policy: CleanRoomPolicy, options: AccessReportOptions = {}): string {
  const model = buildAccessModel(policy, options);
  const stacks = options.synthesized === undefined ? [] : Array.isArray(options.synthesized) ? options.synthesized : [options.synthesized];
  const infrastructure = stacks.length > 0 ? readInfrastructure(stacks, policy.project) : undefined;
  const checked = infrastructure ? crossCheck(model, infrastructure) : undefined;
  const suppressions = uniqueSuppressions([...(options.suppressions ?? []), ...(infrastructure?.suppressions ?? [])]);
  const ids = model.identities;

  const facts: [string, string][] = [
    ["Clean room", code(policy.name)],
    ["Project", code(policy.project)],
    ["Region / zone", `${code(policy.region)} / ${code(policy.zone)}`],
    ["Residency (every data location lies in)", policy.residency.map(code).join(", ")],
    ["Verifier policy sha256", code(model.verifierPolicySha256)],
    ["Verifier audience", code(policy.verifier.audience)],
    ["Debug images allowed", yesNo(policy.tee.allowDebug)],
    ["TEE hardware", `${policy.tee.hardware.map(code).join(", ")} on ${code(policy.tee.machineType)}`],
    ["TEE service account", code(ids.teeServiceAccount)],
    ["Workload identity pool / provider", `${code(ids.poolId)} / ${code(ids.providerId)}`],
    ["Datasets", policy.datasets.map((d) => code(d.name)).join(", ") || "none"],
    ["Researchers", policy.researchers.map(code).join(", ") || "none"],
    ...(model.now ? ([["Approval status evaluated at", code(model.now.toISOString())]] as [string, string][]) : []),
    ...(options.generatedAt !== undefined ? ([["Generated at", text(options.generatedAt)]] as [string, string][]) : []),
  ];

  const approvalsTable =
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
        );

  const sections: string[] = [
    `# Access report: clean room ${code(policy.name)}`,
    "",
    "This report is compiled from the clean-room policy by the same functions that compile its infrastructure " +
      "(resource names, the workload identity provider's attribute condition, the principal sets and expiry conditions " +
      "of every grant, the verifier policy document). It states who can read, write and decrypt what, and under which attestation.",
    "",
    table(["Fact", "Value"], facts),
    "",
    "## Notices",
    "",
    bullets(notices(model, checked, suppressions), "- none"),
    "",
    "## Diagram",
    "",
    fenced("mermaid", accessDiagram(model)),
    "",
    "## Datasets",
    "",
    model.datasets.map((a) => datasetSection(model, a, checked)).join("\n\n"),
    "",
    "## Attestation requirements",
    "",
    `A stage-2 workload gets a Google credential only when its Confidential Space attestation token satisfies the attribute ` +
      `condition of the workload identity provider ${code(ids.providerId)} in pool ${code(ids.poolId)}. Google STS evaluates it ` +
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
    "",
    "## Approved images",
    "",
    approvalsTable,
    "",
    "## Per-job approvals: what an approval can and cannot do",
    "",
    perJobSummary(model),
    "",
    `An approval is a signature (${code(APPROVER_SIGNATURE_ALGORITHM)}) by a dataset's approver key over one image digest. ` +
      "It names that digest and nothing else: no researcher, no job, no date, no dataset beyond the key's own. " +
      "It never expires, and it can be replayed: every relaunch of that digest is admitted again. " +
      "Deleting the signature from the repository revokes nothing: a copy, pushed to any repository named at launch, still verifies. " +
      "Revocation is a new approver key version: a new fingerprint in the room file, then a deploy; every earlier approval of that dataset then stops working. " +
      `Each relaunch of one digest shows as a separate ${code("launched")} record in the job service's audit log.`,
    "",
    "## Verifier and release receipts",
    "",
    bullets([
      `A stage-2 workload asks Confidential Space for a token with audience ${code(policy.verifier.audience)} and a nonce bound to its output, ` +
        `and presents it to the verifier (service account ${code(ids.verifierServiceAccount)}) with the dataset name.`,
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
    fenced(
      "sh",
      [
        "curl -s \"$VERIFIER_URL/v1/jwks\" > jwks.json",
        "npx manatee verify-receipt receipt.jws --jwks jwks.json",
      ].join("\n"),
    ),
    "",
    `Then check that ${code("clean_room")} is ${code(policy.name)}, that ${code("policy_sha256")} equals the hash above, ` +
      `that ${code("image_digest")} is approved for ${code("dataset")} in "Approved images", and that ${code("nonce")} matches the output you hold.`,
    "",
    ...operatorsSection(policy),
    "## Suppressed guardrail findings",
    "",
    suppressionSection(suppressions),
    ...(checked ? ["", "## Cross-check with the synthesized infrastructure", "", crossCheckSection(checked, stacks.length)] : []),
    "",
  ];
  return sections.join("\n");
}

/**
 * Write `<outdir>/access-report.md` (creating `outdir`) and return its path. Deterministic:
 * no timestamp unless `options.generatedAt` is given.
 */
export function writeAccessReport(outdir: string, policy: CleanRoomPolicy, options: AccessReportOptions = {}): string {
  const path = join(outdir, ACCESS_REPORT_FILE);
  mkdirSync(outdir, { recursive: true });
  writeFileSync(path, renderAccessReport(policy, options), "utf8");
  return path;
}

/**
 * The stacks a cdktf app synthesized into `outdir` (`<outdir>/stacks/<name>/cdk.tf.json`), in
 * name order, for `synthesized`. Call it after `app.synth()`. When the outdir has cdktf's
 * manifest.json, only the stacks it lists count: cdktf never removes the stack directories of
 * an earlier synth (of another config, say), and their grants are not this room's.
 */
export function readSynthesizedStacks(outdir: string): SynthesizedStack[] {
  const files = synthesizedStackFiles(outdir);
  if (files.length === 0) {
    throw new InvalidInputError(`No synthesized stacks under ${join(outdir, "stacks")}: run \`cdktf synth\` (or app.synth()) first.`);
  }
  return files.map(({ file }) => JSON.parse(readFileSync(file, "utf8")) as SynthesizedStack);
}
