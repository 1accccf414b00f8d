/**
 * `manatee report --config FILE`: the auditor's access report (Markdown with a Mermaid
 * diagram) of a clean-room config, on stdout or in `--out FILE`.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { loadPolicyFile } from "../policy/load";
import { PolicyError } from "../policy/validate";
import { readSynthesizedStacks, renderAccessReport } from "../report/access-report";
import { SynthesizedStack } from "../report/infrastructure";
import { ReportSuppression, SuppressionsFileError, parseSuppressions } from "../report/suppressions";
import { CliIo, parseArgs } from "./io";
import { InvalidInputError } from "../errors";

const USAGE = `usage: manatee report --config FILE [--out FILE] [--suppressions FILE] [--synthesized PATH[,PATH...]] [--now DATE]

Write the access report (Markdown) of the clean-room config FILE: who can read, write and
decrypt what, under which attestation.

  --config FILE        the clean-room YAML (the file \`npm run synth\` uses)
  --out FILE           write the report to FILE instead of stdout
  --suppressions FILE  guardrail suppressions to list: JSON, [{"ruleId","reason","path"}, ...]
  --synthesized PATHS  synthesized stacks, comma-separated: cdk.tf.json files or a cdktf output
                       directory (e.g. cdktf.out); bucket and key facts and recorded suppressions
                       come from them, and every grant on the dataset resources is cross-checked
  --now DATE           judge approval expiry at DATE (ISO 8601) instead of the current time

Exit codes: 0 written, 1 invalid input, 2 usage error.
`;

const KNOWN = ["config", "out", "suppressions", "synthesized", "now"] as const;

class InputError extends InvalidInputError {}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

/** A cdk.tf.json file, or a cdktf output directory holding `stacks/<name>/cdk.tf.json`. */
function readStacks(path: string): SynthesizedStack[] {
  let directory = false;
  try {
    directory = statSync(path).isDirectory();
  } catch {
    // readStack reports the missing file.
  }
  if (!directory) return [readStack(path)];
  try {
    return readSynthesizedStacks(path);
  } catch (err) {
    throw new InputError((err as Error).message);
  }
}

function readStack(file: string): SynthesizedStack {
  let json: unknown;
  try {
    json = JSON.parse(readText(file, "synthesized stack"));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: not valid JSON (${(err as Error).message}); expected a synthesized cdk.tf.json`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json) || !("resource" in json)) {
    throw new InputError(`${file}: expected a synthesized cdk.tf.json with a "resource" object`);
  }
  return json as SynthesizedStack;
}

export async function run(args: string[], io: CliIo): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(USAGE);
    return 0;
  }
  const { options, positional, errors } = parseArgs(args, KNOWN);
  if (positional.length > 0) errors.push(`unexpected argument "${positional[0]}"`);
  if (errors.length === 0 && options.config === undefined) errors.push("missing --config FILE");
  const now = options.now !== undefined ? new Date(options.now) : new Date();
  if (options.now !== undefined && Number.isNaN(now.getTime())) {
    errors.push(`--now "${options.now}" is not a date; use ISO 8601, e.g. 2026-01-31 or 2026-01-31T12:00:00Z`);
  }
  if (errors.length > 0) {
    io.stderr.write(`${errors.map((e) => `manatee report: ${e}`).join("\n")}\n\n${USAGE}`);
    return 2;
  }

  const file = options.config;
  try {
    const policy = loadPolicyFile(file);
    const suppressions: ReportSuppression[] =
      options.suppressions !== undefined
        ? parseSuppressions(readText(options.suppressions, "suppressions file"), options.suppressions)
        : [];
    const synthesized = (options.synthesized ?? "")
      .split(",")
      .map((f) => f.trim())
      .filter((f) => f !== "")
      .flatMap(readStacks);
    const report = renderAccessReport(policy, { now, suppressions, ...(synthesized.length > 0 ? { synthesized } : {}) });
    if (options.out !== undefined) {
      try {
        writeFileSync(options.out, report, "utf8");
      } catch (err) {
        throw new InputError(`cannot write ${options.out}: ${(err as Error).message}`);
      }
      io.stdout.write(`manatee report: wrote ${options.out}\n`);
    } else {
      io.stdout.write(report);
    }
    return 0;
  } catch (err) {
    if (err instanceof PolicyError) {
      const n = err.issues.length;
      io.stderr.write(`${err.message}\nmanatee report: ${n} problem${n === 1 ? "" : "s"} in ${file}\n`);
    } else if (err instanceof SuppressionsFileError) {
      io.stderr.write(`${err.message}\nmanatee report: invalid suppressions file ${err.file}\n`);
    } else if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "EISDIR") {
      io.stderr.write(`manatee report: cannot read ${file}: ${(err as Error).message}\n`);
    } else {
      io.stderr.write(`manatee report: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    return 1;
  }
}
