/**
 * The report's section on one dataset: storage, key, who reads stage-1 and stage-2 data,
 * who writes outputs, its owners, and its per-job approval path.
 */
import { JOB_APPROVED_GROUP } from "../policy/condition";
import { IAM_POLICY_LIMITS, IMAGES_PER_READER } from "../policy/iam-limits";
import { DatasetPolicy, Stage1Policy } from "../policy/model";
import { AccessModel, DATA_PLANE_ROLES, DatasetAccess, Stage2Principal, sdkRoles } from "./access-model";
import { CrossCheckResult } from "./cross-check";
import { BucketFact, KeyFact } from "./infrastructure";
import { bullets, code, num, status, table, text } from "./markdown";

const DAY_SECONDS = 86_400;

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

/** "Neither A nor B holds …" / "None of A, B nor C holds …": who could have been a writer. */
function writersNone(who: readonly string[]): string {
  if (who.length === 1) return `${who[0][0].toUpperCase()}${who[0].slice(1)} hold no object create anywhere.`;
  if (who.length === 2) return `Neither ${who[0]} nor ${who[1]} holds object create anywhere.`;
  return `None of ${who.slice(0, -1).join(", ")} nor ${who[who.length - 1]} holds object create anywhere.`;
}

/** Every reader of an impersonation dataset, in order. */
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

export function datasetSection(model: AccessModel, access: DatasetAccess, checked: CrossCheckResult | undefined): string {
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
