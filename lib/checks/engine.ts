/**
 * Runs a rule pack over one synthesized stack. A rule that throws does not crash the
 * run: it becomes a validation-failure finding at the rule's level (fail closed, as
 * cdk-nag does), because an unchecked resource is not a passing one.
 */
import { appliesTo, CheckContext, Finding, FindingLevel, Rule, VALIDATION_FAILURE_ID } from "./model";
import { CLEAN_ROOM_RULES } from "./pack";
import { ResourceIndex, TerraformJson, TfResource } from "../analysis/resource-index";
import { suppressionFor, suppressionsInConfig } from "./suppressions-record";

/** Check every managed resource of one stack, and its data sources for the rules that read them. */
export function checkTerraform(json: TerraformJson, context: CheckContext, rules: readonly Rule[] = CLEAN_ROOM_RULES): Finding[] {
  const index = ResourceIndex.fromJson(json);
  return [...index.resources, ...index.dataSources].flatMap((resource) => checkResource(resource, index, context, rules));
}

export function checkResource(resource: TfResource, index: ResourceIndex, context: CheckContext, rules: readonly Rule[] = CLEAN_ROOM_RULES): Finding[] {
  const suppressions = suppressionsInConfig(resource.config);
  const findings: Finding[] = [];
  const emit = (ruleId: string, level: FindingLevel, message: string) => {
    const s = suppressionFor(resource, ruleId, suppressions);
    findings.push({
      ruleId,
      level: s ? "info" : level,
      address: resource.address,
      path: resource.path,
      message,
      suppressed: s ? { level, reason: s.reason } : undefined,
    });
  };
  for (const rule of rules) {
    if (!appliesTo(rule, resource.type, resource.mode)) continue;
    try {
      for (const result of rule.check(resource, index, context)) emit(rule.id, result.level ?? rule.level, result.message);
    } catch (err) {
      emit(
        VALIDATION_FAILURE_ID,
        rule.level,
        `Rule ${rule.id} could not check this resource (${err instanceof Error ? err.message : String(err)}), so it was NOT checked. ` +
          `Report the failure; suppress ${VALIDATION_FAILURE_ID} (with a reason) only once the resource has been reviewed by hand.`,
      );
    }
  }
  return findings;
}

/** `error` > `warning` > `info`. */
export function countByLevel(findings: readonly Finding[]): Record<FindingLevel, number> & { suppressed: number } {
  const out = { error: 0, warning: 0, info: 0, suppressed: 0 };
  for (const f of findings) {
    out[f.level]++;
    if (f.suppressed) out.suppressed++;
  }
  return out;
}
