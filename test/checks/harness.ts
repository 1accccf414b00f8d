/** Run the clean-room checks through the real Aspect on a small stack of raw provider resources. */
import { TerraformStack, Testing } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { CleanRoomChecks, CleanRoomChecksProps } from "../../lib/checks/aspect";
import { Finding } from "../../lib/checks/model";

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

export const POOL = "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-pool";
export const attested = (digest: string) => `${POOL}/attribute.image_digest/${digest}`;
