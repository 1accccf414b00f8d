/**
 * The auditor's access report: who may read, write and decrypt what in a clean room,
 * under which attestation, as Markdown with a Mermaid diagram. Rendered from the same
 * compiled policy as the infrastructure (names, principal sets, expiry, CEL, verifier
 * policy hash), optionally cross-checked against the synthesized stacks.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { synthesizedStackFiles } from "../analysis/synthesized";
import { CleanRoomPolicy } from "../policy/model";
import { AccessModelOptions, buildAccessModel } from "./access-model";
import { crossCheck } from "./cross-check";
import { SynthesizedStack, readInfrastructure } from "./infrastructure";
import { code, table, text, yesNo } from "./markdown";
import {
  ReportInput,
  ReportSection,
  approvedImages,
  attestationRequirements,
  crossCheckWithStacks,
  datasets,
  diagram,
  notices,
  perJobApprovals,
  suppressedFindings,
  uniqueSuppressions,
  verifierAndReceipts,
} from "./sections";
import { gpuSection } from "./gpu-section";
import { operatorsSection } from "./operators";
import { partySections } from "./party-sections";
import { ReportSuppression } from "./suppressions";
import { InvalidInputError } from "../errors";

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

/**
 * The report's sections after the header, in order. Each renders from the same inputs; add a
 * section by adding it here.
 */
const SECTIONS: readonly ReportSection[] = [
  notices,
  diagram,
  datasets,
  attestationRequirements,
  approvedImages,
  perJobApprovals,
  gpuSection,
  verifierAndReceipts,
  operatorsSection,
  partySections,
  suppressedFindings,
  crossCheckWithStacks,
];

/** Render the access report of `policy` as Markdown. Pure and deterministic for given options. */
export function renderAccessReport(policy: CleanRoomPolicy, options: AccessReportOptions = {}): string {
  const model = buildAccessModel(policy, options);
  const stacks = options.synthesized === undefined ? [] : Array.isArray(options.synthesized) ? options.synthesized : [options.synthesized];
  const infrastructure = stacks.length > 0 ? readInfrastructure(stacks, policy.project) : undefined;
  const checked = infrastructure ? crossCheck(model, infrastructure) : undefined;
  const suppressions = uniqueSuppressions([...(options.suppressions ?? []), ...(infrastructure?.suppressions ?? [])]);
  const input: ReportInput = { policy, model, stacks, ...(checked ? { checked } : {}), suppressions };
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

  const lines: string[] = [
    `# Access report: clean room ${code(policy.name)}`,
    "",
    "This report is compiled from the clean-room policy by the same functions that compile its infrastructure " +
      "(resource names, the workload identity provider's attribute condition, the principal sets and expiry conditions " +
      "of every grant, the verifier policy document). It states who can read, write and decrypt what, and under which attestation.",
    "",
    table(["Fact", "Value"], facts),
    "",
  ];
  for (const section of SECTIONS) {
    const body = section.body(input);
    if (body !== undefined) lines.push(`## ${section.title}`, "", body, "");
  }
  return lines.join("\n");
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
