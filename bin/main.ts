/**
 * The cdktf app: renders both stacks of the clean room described by `CLEANROOM_CONFIG`
 * (default: the embedded example), runs the guardrails, and writes the auditor's access
 * report beside the stacks.
 */
import * as path from "node:path";
import { App } from "cdktf";
import { loadPolicyFile } from "../lib/policy/load";
import { debugRequested, describeError, exitCodeFor } from "../lib/cli/exit";
import { readSynthesizedStacks, writeAccessReport } from "../lib/report";
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
}

export function synthesize(configPath: string, outdir?: string, options: SynthesizeOptions = {}): App {
  const policy = loadPolicyFile(configPath);
  // No stack traces in the manifest's annotations: the guardrails add them from an aspect, so
  // the traces point into cdktf, and their absolute paths made the output machine-dependent.
  const app = new App({ ...(outdir ? { outdir } : {}), stackTraces: false });
  withoutTokenCreationTraces(() => {
    const stacks = stacksOptionsFromPolicy(policy, path.relative(process.cwd(), configPath));
    const verifier = options.verifierSourceDir ? { sourceDir: options.verifierSourceDir } : undefined;
    createCleanRoomStacks(app, policy, verifier ? { ...stacks, platform: { ...stacks.platform, verifier } } : stacks);
    app.synth();
  });
  writeAccessReport(app.outdir, policy, { synthesized: readSynthesizedStacks(app.outdir) });
  return app;
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

if (require.main === module) {
  const config = process.env.CLEANROOM_CONFIG ? path.resolve(process.env.CLEANROOM_CONFIG) : defaultConfigPath();
  try {
    const app = synthesize(config);
    process.stderr.write(`synthesized ${path.relative(process.cwd(), config)} into ${app.outdir}/\n`);
  } catch (err) {
    process.stderr.write(`${synthErrorMessage(err, config)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
