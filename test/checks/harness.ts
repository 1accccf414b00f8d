/**
 * Run the clean-room checks: through the real Aspect on a small stack of raw provider resources
 * (check), or through the engine on the example room's synthesized platform stack and tampered
 * copies of it (examplePlatform, checksOn).
 */
import * as path from "node:path";
import { TerraformStack, Testing } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { createCleanRoomStacks } from "../../stacks";
import { stacksOptionsFromPolicy } from "../../stacks/config";
import { CleanRoomChecks, CleanRoomChecksProps } from "../../lib/checks/aspect";
import { checkContext } from "../../lib/checks/context";
import { checkTerraform } from "../../lib/checks/engine";
import { Finding } from "../../lib/checks/model";
import { CleanRoomPolicy } from "../../lib/policy/model";
import { SynthJson, synthStack } from "../util";

export interface Checked {
  readonly stack: TerraformStack;
  readonly findings: Finding[];
}

/** Build a stack, apply the checks, synthesize once, return every finding. */
export function check(build: (stack: TerraformStack) => void, props: CleanRoomChecksProps = {}): Checked {
  const stack = new TerraformStack(Testing.app(), "test");
  new GoogleProvider(stack, "google", { project: "acme-clean-room", region: "us-central1" });
  build(stack);
  const checks = CleanRoomChecks.applyTo(stack, props);
  Testing.synth(stack);
  return { stack, findings: checks.findings(stack) };
}

/** Unsuppressed findings of one rule at one level. */
export function of(findings: readonly Finding[], ruleId: string, level: Finding["level"] = "error"): Finding[] {
  return findings.filter((f) => f.ruleId === ruleId && f.level === level && !f.suppressed);
}

/** Findings of a rule that would fail synthesis or `manatee check`. */
export function errors(findings: readonly Finding[], ruleId?: string): Finding[] {
  return findings.filter((f) => f.level === "error" && (ruleId === undefined || f.ruleId === ruleId));
}

export const POOL = "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/insurance-study-tee";
export const attested = (digest: string) => `${POOL}/attribute.image_digest/${digest}`;

/**
 * The room's platform stack, synthesized with the checks off (the tests run them on the JSON) and
 * the test fixtures standing in for the verifier and job service bundles.
 */
export function examplePlatform(policy: CleanRoomPolicy): SynthJson {
  const options = stacksOptionsFromPolicy(policy);
  const stacks = createCleanRoomStacks(Testing.app(), policy, {
    ...options,
    platform: { ...options.platform, verifier: { sourceDir: path.join(__dirname, "..", "fixtures", "verifier-build") } },
    workloads: { ...options.workloads, imageSources: { jobService: path.join(__dirname, "..", "fixtures", "job-service-build") } },
    checks: false,
  });
  stacks.platform.prepareStack();
  return synthStack(stacks.platform);
}

/** Runs the checks on synthesized (possibly tampered) JSON: with the policy, or knowing only its project. */
export function checksOn(policy: CleanRoomPolicy, now: Date): (json: any, withPolicy?: boolean) => Finding[] {
  return (json, withPolicy = true) => checkTerraform(json, withPolicy ? checkContext({ policy, now }) : checkContext({ project: policy.project, now }));
}
