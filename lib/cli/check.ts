/**
 * `manatee check --config <cdk.tf.json | cdktf.out>`: run the clean-room guardrails on a
 * synthesized configuration, the same rules the `CleanRoomChecks` Aspect runs at synth.
 * Suppressions recorded in the JSON (`"//".manatee.suppressions`) are honoured.
 * No cdktf import: this reads JSON only.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { synthesizedStackFiles } from "../analysis/synthesized";
import { basename, join } from "node:path";
import { checkContext, CheckContextProps } from "../checks/context";
import { checkTerraform, countByLevel } from "../checks/engine";
import { Finding } from "../checks/model";
import { TerraformJson } from "../analysis/resource-index";
import { loadPolicyFile } from "../policy/load";
import { EU_REGIONS, expandResidency } from "../policy/regions";
import { PolicyError } from "../policy/validate";
import { CliIo, parseArgs } from "./io";
import { UsageError } from "../errors";

const USAGE = `usage: manatee check --config PATH [--policy FILE] [--residency R1,R2] [--allow-debug true|false]
                     [--project ID] [--now ISO-8601] [--format text|json]

Run the clean-room guardrails on a synthesized Terraform configuration.
  --config PATH    a cdk.tf.json, or a cdktf.out directory (checks every stacks/*/cdk.tf.json)
  --policy FILE    the clean-room policy (YAML): enables the policy-aware checks
  --residency      regions every location must lie in, or the alias eu (${EU_REGIONS.length} EU regions; see
                   lib/policy/regions.ts); checks every location, region and zone field and every
                   *-docker.pkg.dev host (default: the policy's residency; else unchecked)
  --allow-debug    allow debug Confidential Space images (default: the policy's tee.allowDebug, else false)
  --project ID     the room's project id (default: the policy's project)
  --now ISO        judge expiry at this instant (default: now)
  --format         text (default) or json
Exit codes: 0 no errors, 1 errors found, 2 usage error or unreadable input.
`;

const OPTIONS = ["config", "policy", "residency", "allow-debug", "project", "now", "format"] as const;

interface StackInput {
  readonly name: string;
  readonly file: string;
  readonly json: TerraformJson;
}

export interface StackFinding extends Finding {
  readonly stack: string;
}


/** The stacks a --config path names: one cdk.tf.json, or each stack of a cdktf.out directory. */
function readStacks(path: string): StackInput[] {
  if (!existsSync(path)) throw new UsageError(`--config ${path} does not exist`);
  const files: { name: string; file: string }[] = [];
  if (statSync(path).isDirectory()) {
    const stacksDir = join(path, "stacks");
    if (existsSync(stacksDir) && statSync(stacksDir).isDirectory()) {
      // Only the stacks cdktf's manifest lists: stale directories of an earlier synth are not this app's.
      files.push(...synthesizedStackFiles(path));
    } else if (existsSync(join(path, "cdk.tf.json"))) {
      files.push({ name: basename(path), file: join(path, "cdk.tf.json") });
    }
    if (files.length === 0) {
      throw new UsageError(`--config ${path} holds no cdk.tf.json (expected a cdktf.out directory with stacks/*/cdk.tf.json); run cdktf synth first`);
    }
  } else {
    files.push({ name: "", file: path });
  }
  return files.map(({ name, file }) => {
    let json: TerraformJson;
    try {
      json = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new UsageError(`${file} is not valid JSON (${(err as Error).message})`);
    }
    if (json === null || typeof json !== "object" || Array.isArray(json)) throw new UsageError(`${file} is not a Terraform JSON configuration`);
    const meta = (json["//"] as { metadata?: { stackName?: unknown } } | undefined)?.metadata;
    // A lone file without cdktf metadata has no stack name worth printing.
    return { name: name || (typeof meta?.stackName === "string" ? meta.stackName : ""), file, json };
  });
}

function contextProps(options: Record<string, string>): CheckContextProps {
  const props: { -readonly [K in keyof CheckContextProps]: CheckContextProps[K] } = {};
  if (options.policy !== undefined) props.policy = loadPolicyFile(options.policy);
  if (options.residency !== undefined) {
    props.residency = expandResidency(options.residency.split(",").map((r) => r.trim()).filter((r) => r.length > 0));
    if (props.residency.length === 0) throw new UsageError(`--residency needs at least one region, e.g. --residency us-central1`);
  }
  if (options["allow-debug"] !== undefined) {
    if (!/^(true|false)$/.test(options["allow-debug"])) throw new UsageError(`--allow-debug must be true or false, got "${options["allow-debug"]}"`);
    props.allowDebug = options["allow-debug"] === "true";
  }
  if (options.project !== undefined) props.project = options.project;
  if (options.now !== undefined) {
    const now = new Date(options.now);
    if (Number.isNaN(now.getTime())) throw new UsageError(`--now must be an ISO-8601 instant such as 2026-01-31T00:00:00Z, got "${options.now}"`);
    props.now = now;
  }
  return props;
}

function line(f: StackFinding): string {
  const where = f.stack ? `${f.stack}/${f.address}` : f.address;
  const text = f.suppressed ? `suppressed (${f.suppressed.level}: ${f.suppressed.reason}): ${f.message}` : f.message;
  return `${f.level.toUpperCase().padEnd(7)} ${f.ruleId.padEnd(14)} ${where}  ${text}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export async function run(args: string[], io: CliIo): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(USAGE);
    return 0;
  }
  const { options, positional, errors } = parseArgs(args, OPTIONS);
  if (positional.length > 0) errors.push(`unexpected argument "${positional[0]}"`);
  if (errors.length === 0 && options.config === undefined) errors.push("missing --config PATH (a cdk.tf.json or a cdktf.out directory)");
  const format = options.format ?? "text";
  if (format !== "text" && format !== "json") errors.push(`--format must be text or json, got "${format}"`);
  if (errors.length > 0) {
    io.stderr.write(`${errors.map((e) => `manatee check: ${e}`).join("\n")}\n\n${USAGE}`);
    return 2;
  }

  let stacks: StackInput[];
  let findings: StackFinding[];
  try {
    stacks = readStacks(options.config);
    const context = checkContext(contextProps(options));
    findings = stacks.flatMap((s) => checkTerraform(s.json, context).map((f) => ({ ...f, stack: s.name })));
  } catch (err) {
    if (err instanceof PolicyError) {
      io.stderr.write(`${err.message}\nmanatee check: the policy ${options.policy} is invalid\n`);
    } else {
      io.stderr.write(`manatee check: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    return 2;
  }

  const counts = countByLevel(findings);
  if (format === "json") {
    io.stdout.write(`${JSON.stringify({ stacks: stacks.map((s) => ({ name: s.name, file: s.file })), findings, summary: counts }, null, 2)}\n`);
  } else {
    for (const f of findings) io.stdout.write(`${line(f)}\n`);
    io.stdout.write(
      `manatee check: ${plural(counts.error, "error")}, ${plural(counts.warning, "warning")}, ${counts.info} info ` +
        `(${counts.suppressed} suppressed) in ${plural(stacks.length, "stack")}\n`,
    );
  }
  return counts.error > 0 ? 1 : 0;
}
