/**
 * The guardrails' vocabulary: a rule is a pure function over one synthesized
 * resource (its Terraform type and snake_case config as in cdk.tf.json), a read-only
 * index of the whole stack, and the room's facts. The same rules run in the cdktf
 * Aspect (`CleanRoomChecks`) and in `manatee check` on a synthesized JSON.
 */
import type { CleanRoomPolicy } from "../policy/model";
import type { ResourceIndex, TfResource } from "../analysis/resource-index";

/** `error` fails synthesis (and `manatee check`); `warning` is printed; `info` is a record. */
export type FindingLevel = "error" | "warning" | "info";
export type RuleLevel = "error" | "warning";

/** Reported when a rule throws on a resource: the resource was NOT checked (fail closed). */
export const VALIDATION_FAILURE_ID = "MCR-VALIDATION";

/** Facts about the room the rules may use; everything unknown is `undefined`. */
export interface CheckContext {
  /** The clean-room policy, when known: datasets' retention and owners, approvals. */
  readonly policy?: CleanRoomPolicy;
  /** Regions every data location must lie in; residency is not checked when absent. */
  readonly residency?: readonly string[];
  /** Whether debug Confidential Space images are allowed (false unless the policy says so). */
  readonly allowDebug: boolean;
  /** The room's project id, used to recognise its service accounts by email. */
  readonly project?: string;
  /** The instant expiry is judged against. */
  readonly now: Date;
}

/** What a rule reports about one resource. `level` overrides the rule's level (e.g. `info` for a skip). */
export interface RuleResult {
  readonly message: string;
  readonly level?: FindingLevel;
}

/**
 * A rule. Every rule file declares one in the same shape (id, level, title, resource types,
 * check), as cdk-nag rules do: the `duplicates` tool sees those headers as repeats, and
 * that is intended — a rule stays readable on its own.
 */
export interface Rule {
  /** `MCR-<AREA><n>`, stable: suppressions and CI logs refer to it. */
  readonly id: string;
  readonly level: RuleLevel;
  /** One line: what the rule guards. */
  readonly title: string;
  /** Terraform resource types the rule looks at. */
  readonly resourceTypes: readonly string[] | ((type: string) => boolean);
  /**
   * Also run on data sources of those types (Terraform reads them at plan time, so they need
   * what they call to exist too). @default false: managed resources only
   */
  readonly dataSources?: boolean;
  check(resource: TfResource, index: ResourceIndex, context: CheckContext): RuleResult[];
}

/** A suppression with its mandatory reason, as recorded in the synthesized JSON. */
export interface CleanRoomSuppression {
  /** The rule id (e.g. `MCR-GCS2`) or `MCR-VALIDATION`. */
  readonly id: string;
  /** Why the finding does not apply here; at least 10 characters. */
  readonly reason: string;
  /**
   * The one resource whose finding is suppressed: its Terraform address
   * (`google_storage_bucket.legacy_1A2B3C4D`) or construct path (`room/legacy/bucket`). The
   * same rule still fails on every other resource.
   * @default - every resource the suppression is added on (with `applyToChildren`, every one under it)
   */
  readonly resource?: string;
}

export interface Finding {
  readonly ruleId: string;
  /** The level after suppression: a suppressed finding is `info`. */
  readonly level: FindingLevel;
  /** Terraform address, e.g. `google_storage_bucket.stage2_1A2B3C4D`. */
  readonly address: string;
  /** Construct path when known (from the `//` metadata). */
  readonly path?: string;
  readonly message: string;
  /** Present when a suppression matched: the level the rule would have reported, and why not. */
  readonly suppressed?: { readonly level: FindingLevel; readonly reason: string };
}

export function appliesTo(rule: Rule, type: string, mode: "resource" | "data" = "resource"): boolean {
  if (mode === "data" && !rule.dataSources) return false;
  return typeof rule.resourceTypes === "function" ? rule.resourceTypes(type) : rule.resourceTypes.includes(type);
}
