/**
 * The clean-room policy rules, written once over plain values. The YAML loader
 * (load.ts) and TypeScript callers (constructs, `assertValidPolicy`) go through the
 * same function; only the locator that turns a field path into a line and column differs.
 * The rules themselves live in validation/, one file per concept. Pure: no cdktf imports.
 */
import { ERROR_CODES, MAX_LISTED_PROBLEMS, ManateeError, summarise } from "../errors";
import { CleanRoomPolicy } from "./model";
import { checkApprovals, checkJobs } from "./validation/approvals";
import { checkBudgets } from "./validation/budget";
import { Checker, isPlainMap } from "./validation/checker";
import { checkDatasets } from "./validation/datasets";
import { checkGpu } from "./validation/gpu";
import { PolicyIssue, ValidateOptions, formatPath, located, toIssue } from "./validation/issues";
import { checkJupyterHub } from "./validation/jupyterhub";
import { checkParties } from "./validation/parties";
import { checkCluster, checkDatabase, checkVpcServiceControls } from "./validation/platform";
import { checkBackend, checkLocations, checkPlacement, checkResearchers, checkRoot } from "./validation/room";
import { checkTee, checkVerifier } from "./validation/tee";
import { checkTrust } from "./validate-trust";

export { isCalendarDate } from "./validation/approvals";
export { closest, describeValue, formatPath, toIssue } from "./validation/issues";
export type { PolicyIssue, PolicyLocator, PolicyPath, SourcePosition, ValidateOptions } from "./validation/issues";
export { JUPYTERHUB_USERNAME_PATTERN, POLICY_LIMITS } from "./validation/vocabulary";

/** How many issues a PolicyError's message lists; one mistake repeated 20,000 times needs only a few lines to be seen. */
export const MAX_LISTED_ISSUES = MAX_LISTED_PROBLEMS;

/** Thrown with every issue of a policy at once: `issues` holds them all, the message the first MAX_LISTED_ISSUES and a count. */
export class PolicyError extends ManateeError {
  constructor(readonly issues: readonly PolicyIssue[]) {
    super(ERROR_CODES.invalidPolicy, summarise(issues.map((i) => i.message)).join("\n"));
  }
}

/**
 * Every issue of a policy in input form (what YAML parses to, or a `CleanRoomPolicyInput`).
 * Undefined fields count as absent. Past expiry dates are NOT issues: loading must be
 * reproducible; the guardrails flag expired approvals. One call per rule group, in rule order
 * (the order unlocated issues are listed in).
 */
export function validatePolicyInput(input: unknown, options: ValidateOptions = {}): PolicyIssue[] {
  const c = new Checker();
  const root = checkRoot(c, input);
  if (root) {
    const placement = checkPlacement(c, root);
    checkTee(c, root.tee);
    checkVerifier(c, root.verifier);
    if (root.parties === undefined) checkApprovals(c, root.approvals, checkDatasets(c, root.datasets));
    else checkParties(c, root, options.unsignedParty);
    checkBudgets(c, root.datasets, root.approvals);
    checkResearchers(c, root.researchers);
    checkBackend(c, root.backend);
    checkJupyterHub(c, root.jupyterhub, isPlainMap(root.tee) ? root.tee.allowDebug : undefined);
    checkCluster(c, root.cluster);
    checkDatabase(c, root.database);
    checkJobs(c, root.jobs);
    checkVpcServiceControls(c, root.vpcServiceControls);
    checkLocations(c, root.locations, placement);
    checkTrust(c, root);
    checkGpu(c, root);
  }
  return located(c.issues, options);
}

/** Every issue of a normalized policy (e.g. `normalizePolicy` output), by the same rules as YAML. */
export function validatePolicy(policy: CleanRoomPolicy): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  // Back to input form: each dataset and approval under the party that holds it (the root's own without `party`).
  const datasetsOf = new Map<string | undefined, Record<string, unknown>>();
  for (const { name, party, ...settings } of policy.datasets ?? []) {
    if ([...datasetsOf.values()].some((map) => Object.prototype.hasOwnProperty.call(map, name))) {
      issues.push(
        toIssue({ path: formatPath(["datasets", name]), expected: "each dataset name once", found: `the dataset ${JSON.stringify(name)} twice` }),
      );
    }
    datasetsOf.set(party, { ...datasetsOf.get(party), [name]: settings });
  }
  const approvalsOf = (party: string | undefined) => (policy.approvals ?? []).filter((a) => a.party === party).map(({ party: _, ...a }) => a);
  const undeclared = [...datasetsOf.keys(), ...(policy.approvals ?? []).map((a) => a.party)].filter(
    (p) => p !== undefined && !(policy.parties ?? []).some((q) => q.name === p),
  );
  for (const party of new Set(undeclared)) {
    issues.push(toIssue({ path: "parties", expected: `a party named ${JSON.stringify(party)}`, found: "no such party, yet a dataset or approval names it" }));
  }
  const parties = policy.parties?.length
    ? {
        parties: Object.fromEntries(
          policy.parties.map(({ name, ...p }) => [name, { ...p, datasets: datasetsOf.get(name), approvals: approvalsOf(name) }]),
        ),
      }
    : { parties: undefined };
  const root = { ...policy, ...parties, datasets: datasetsOf.get(undefined), approvals: approvalsOf(undefined) };
  // A consortium's root may leave datasets out; a single-project room needs them (the rule says so).
  return [...issues, ...validatePolicyInput(policy.parties?.length ? root : { ...root, datasets: root.datasets ?? {} })];
}

/** Throw a PolicyError listing every issue of `policy`; constructs call this on their input. */
export function assertValidPolicy(policy: CleanRoomPolicy): void {
  const issues = validatePolicy(policy);
  if (issues.length > 0) throw new PolicyError(issues);
}
