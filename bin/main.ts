/**
 * The cdktf app: renders both stacks of the clean room described by `CLEANROOM_CONFIG`
 * (default: the embedded example), runs the guardrails, and writes the auditor's access
 * report beside the stacks.
 */
import * as path from "node:path";
import { App } from "cdktf";
import { loadPolicyFile } from "../lib/policy/load";
import { PolicyError } from "../lib/policy/validate";
import { readSynthesizedStacks, writeAccessReport } from "../lib/report";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";

/** The example config, found from the sources (bin/) and from the build (dist/bin/). */
export function defaultConfigPath(): string {
  const fromBin = path.resolve(__dirname, "..", "stacks", "example.cleanroom.yaml");
  const fromDist = path.resolve(__dirname, "..", "..", "stacks", "example.cleanroom.yaml");
  return require("node:fs").existsSync(fromBin) ? fromBin : fromDist;
}

export function synthesize(configPath: string, outdir?: string): App {
  const policy = loadPolicyFile(configPath);
  const app = new App(outdir ? { outdir } : {});
  createCleanRoomStacks(app, policy, stacksOptionsFromPolicy(policy, path.relative(process.cwd(), configPath)));
  app.synth();
  writeAccessReport(app.outdir, policy, { synthesized: readSynthesizedStacks(app.outdir) });
  return app;
}

if (require.main === module) {
  const config = process.env.CLEANROOM_CONFIG ? path.resolve(process.env.CLEANROOM_CONFIG) : defaultConfigPath();
  try {
    const app = synthesize(config);
    process.stderr.write(`synthesized ${path.relative(process.cwd(), config)} into ${app.outdir}/\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof PolicyError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
