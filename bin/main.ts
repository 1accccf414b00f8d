/**
 * The cdktf app: renders both stacks of the clean room described by `CLEANROOM_CONFIG`
 * (default: the embedded example), runs the guardrails, and writes the auditor's access
 * report beside the stacks.
 */
import * as path from "node:path";
import { AnnotationMetadataEntryType, App, TerraformResource, TerraformStack } from "cdktf";
import { loadPolicyFile } from "../lib/policy/load";
import { debugRequested, describeError, exitCodeFor } from "../lib/cli/exit";
import { readSynthesizedStacks, writeAccessReport, type SynthesizedStack } from "../lib/report";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";

/** The example config, found from the sources (bin/) and from the build (dist/bin/). */
export function defaultConfigPath(): string {
  const fromBin = path.resolve(__dirname, "..", "stacks", "example.cleanroom.yaml");
  const fromDist = path.resolve(__dirname, "..", "..", "stacks", "example.cleanroom.yaml");
  return require("node:fs").existsSync(fromBin) ? fromBin : fromDist;
}

export interface SynthesizeOptions {
  /** The built verifier to deploy. @default attestation-verifier/build (`npm run verifier` builds it) */
  readonly verifierSourceDir?: string;
  /** Called as each stack is written (progress for long synths). @default - nothing reported */
  readonly onStack?: (stack: StackSynthesized) => void;
}

/** One stack written by the synth: its name, how many resource blocks it declares, how long it took. */
export interface StackSynthesized {
  readonly name: string;
  readonly resources: number;
  readonly seconds: number;
}

/**
 * Synthesizes the room into `outdir` (default: cdktf's CDKTF_OUTDIR, else cdktf.out) as
 * `cdktf diff`/`deploy` expect it: manifest.json and stacks/<name>/cdk.tf.json, or cdk.tf plus
 * metadata.json when cdktf asks for HCL (`cdktf synth --hcl` sets SYNTH_HCL_OUTPUT, which App
 * reads); then the access report beside them.
 */
export function synthesize(configPath: string, outdir?: string, options: SynthesizeOptions = {}): App {
  const policy = loadPolicyFile(configPath);
  // No stack traces in the manifest's annotations: the guardrails add them from an aspect, so
  // the traces point into cdktf, and their absolute paths made the output machine-dependent.
  const app = new App({ ...(outdir ? { outdir } : {}), stackTraces: false });
  const synthesized = withoutTokenCreationTraces(() => {
    const stacks = stacksOptionsFromPolicy(policy, path.relative(process.cwd(), configPath));
    const verifier = options.verifierSourceDir ? { sourceDir: options.verifierSourceDir } : undefined;
    createCleanRoomStacks(app, policy, verifier ? { ...stacks, platform: { ...stacks.platform, verifier } } : stacks);
    if (options.onStack) reportEachStack(app, options.onStack);
    app.synth();
    // The report reads Terraform JSON; in HCL mode cdktf wrote none, so render it from the stacks.
    return app.hclOutput ? stacksAsJson(app) : undefined;
  });
  writeAccessReport(app.outdir, policy, { synthesized: synthesized ?? readSynthesizedStacks(app.outdir) });
  return app;
}

const stacksOf = (app: App): TerraformStack[] => app.node.children.filter(TerraformStack.isStack);

/** Wraps each stack's synthesizer to time it and count its resource blocks (data sources are not resources). */
function reportEachStack(app: App, onStack: (stack: StackSynthesized) => void): void {
  for (const stack of stacksOf(app)) {
    const inner = stack.synthesizer;
    stack.synthesizer = {
      synthesize: (session) => {
        const started = process.hrtime.bigint();
        inner.synthesize(session);
        const resources = stack.node.findAll().filter((c) => TerraformResource.isTerraformResource(c)).length;
        onStack({ name: stack.node.id, resources, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
      },
    };
  }
}

/** The stacks' Terraform JSON, in name order, as readSynthesizedStacks returns it from cdk.tf.json. */
function stacksAsJson(app: App): SynthesizedStack[] {
  return stacksOf(app)
    .sort((a, b) => (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0))
    .map((stack) => JSON.parse(JSON.stringify(stack.toTerraform())) as SynthesizedStack);
}

/**
 * cdktf records a full stack trace for every token it creates, only to print it if that token
 * later fails to resolve. In a room with thousands of grants that is a fifth of the synth time
 * and 150+ MB. While `fn` runs, cdktf's capture (one private module every token type calls
 * through, in the pinned cdktf 0.21) records nothing; errors keep their traces.
 * MANATEE_TOKEN_TRACES=1 keeps the captures, for debugging a token that does not resolve.
 */
export function withoutTokenCreationTraces<T>(fn: () => T): T {
  let traces: { captureStackTrace: (below?: unknown) => string[] } | undefined;
  try {
    traces = process.env.MANATEE_TOKEN_TRACES === "1" ? undefined : require("cdktf/lib/tokens/private/stack-trace");
  } catch {
    traces = undefined; // another cdktf layout: synthesize as cdktf does by default
  }
  if (!traces || typeof traces.captureStackTrace !== "function") return fn();
  const capture = traces.captureStackTrace;
  traces.captureStackTrace = () => [];
  try {
    return fn();
  } finally {
    traces.captureStackTrace = capture;
  }
}

/**
 * What the app prints for a failed synth: the located problems, what to fix and where; a stack
 * trace only with MANATEE_DEBUG=1.
 */
export function synthErrorMessage(err: unknown, configPath: string, debug = debugRequested()): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT" || code === "EISDIR" || code === "EACCES") {
    return (
      `CLEANROOM_CONFIG: cannot read ${configPath} (${code}). ` +
      `Set CLEANROOM_CONFIG to a clean-room YAML file, or unset it to synthesize stacks/example.cleanroom.yaml.`
    );
  }
  return describeError(err, debug);
}

/**
 * Whether to print nothing but errors: `--quiet`, MANATEE_QUIET=1, or cdktf's log level
 * (CDKTF_LOG_LEVEL, which the cdktf CLI passes on to the app) at warn or above.
 */
export function quietRequested(argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): boolean {
  const cdktfLevel = (env.CDKTF_LOG_LEVEL ?? "").toLowerCase();
  return argv.includes("--quiet") || env.MANATEE_QUIET === "1" || ["warn", "error", "fatal", "mark", "off"].includes(cdktfLevel);
}

export interface MainOptions {
  /** Print nothing on success. @default quietRequested() */
  readonly quiet?: boolean;
  /** When the run started (process.hrtime.bigint()), for the summary's time. @default now */
  readonly startedAt?: bigint;
  /** Lines to print first (what the build step did). @default none */
  readonly preamble?: readonly string[];
}

/**
 * The app's command line (`node dist/bin/main.js`, run by scripts/synth.js for `npm run synth` and
 * `cdktf synth`): synthesizes CLEANROOM_CONFIG (default: the example) and prints one line per stack
 * and a summary, or only the error (stderr). Returns the exit code.
 */
export function main(options: MainOptions = {}): number {
  const startedAt = options.startedAt ?? process.hrtime.bigint();
  const quiet = options.quiet ?? quietRequested();
  // Progress goes to stdout, which the cdktf CLI shows as output (it labels stderr `[ERROR]`).
  const say = (line: string) => (quiet ? undefined : void process.stdout.write(`${line}\n`));
  const config = process.env.CLEANROOM_CONFIG ? path.resolve(process.env.CLEANROOM_CONFIG) : defaultConfigPath();
  for (const line of options.preamble ?? []) say(line);
  const stacks: StackSynthesized[] = [];
  try {
    const app = synthesize(config, undefined, {
      onStack: (s) => {
        stacks.push(s);
        say(`stack ${s.name}: ${s.resources} resources in ${s.seconds.toFixed(2)} s`);
      },
    });
    const resources = stacks.reduce((n, s) => n + s.resources, 0);
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    // Under cdktf (CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS) guardrail errors do not throw: cdktf
    // prints them from the manifest and fails; the summary must not read as a clean success.
    const errors = Object.values(app.manifest.stacks)
      .flatMap((m) => m.annotations)
      .filter((a) => a.level === AnnotationMetadataEntryType.ERROR).length;
    say(
      `synthesized ${stacks.length} stacks (${resources} resources${app.hclOutput ? ", HCL" : ""}) from ` +
        `${path.relative(process.cwd(), config)} into ${app.outdir}/ in ${seconds.toFixed(1)} s` +
        (errors > 0 ? `, with ${errors} guardrail errors (listed below)` : ""),
    );
    return 0;
  } catch (err) {
    process.stderr.write(`${synthErrorMessage(err, config)}\n`);
    return exitCodeFor(err);
  }
}

if (require.main === module) process.exitCode = main();
