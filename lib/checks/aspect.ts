/**
 * `CleanRoomChecks`: the rule pack as a cdktf Aspect. For each stack it resolves every
 * resource and data source to its synthesized JSON (escape-hatch overrides included),
 * runs the rules over that JSON — exactly what `manatee check` reads — and annotates
 * the offending constructs: errors fail `cdktf synth`, warnings and infos are printed.
 */
import {
  Annotations,
  App,
  Aspects,
  DefaultTokenResolver,
  IAspect,
  StringConcat,
  TerraformDataSource,
  TerraformElement,
  TerraformProvider,
  TerraformResource,
  TerraformStack,
  Tokenization,
} from "cdktf";
import { IConstruct } from "constructs";
import { ApiDependencies, applyApiDependencies } from "../internal/api-dependencies";
import { resolveTerraform } from "../internal/fast-resolve";
import { checkContext, CheckContextProps } from "./context";
import { checkResource } from "./engine";
import { CheckContext, Finding, Rule, VALIDATION_FAILURE_ID } from "./model";
import { CleanRoomPolicy } from "../policy/model";
import { CLEAN_ROOM_RULES } from "./pack";
import { JsonObject, ResourceIndex, StackFacts, stackFactsOf, TfResource } from "../analysis/resource-index";
import { recordSuppressions } from "./suppressions";
import { InvalidPropsError } from "../errors";

export interface CleanRoomChecksProps extends CheckContextProps {
  /**
   * The rules to run.
   * @default CLEAN_ROOM_RULES (every rule of the pack)
   */
  readonly rules?: readonly Rule[];
}

interface StackRun {
  readonly findings: Map<string, Finding[]>;
  /** Paths annotated in this run: seeing one again means a new synthesis started. */
  readonly visited: Set<string>;
}

const RESOLVER = new DefaultTokenResolver(new StringConcat());

/**
 * Synth-time guardrails for a clean room. cdktf 0.21 never invokes aspects added to the
 * App (it starts aspect invocation at each stack), so use `CleanRoomChecks.applyTo(app)`
 * or `Aspects.of(stack).add(new CleanRoomChecks(...))`.
 *
 * The stack is checked when its node is visited, i.e. before aspects visit its
 * resources: changes that other aspects make to resources are not seen here (run
 * `manatee check` on the synthesized JSON to cover them).
 */
export class CleanRoomChecks implements IAspect {
  /**
   * Add the checks to every stack under `scope` (an App or a stack); for an App, a
   * validation fails synthesis if a stack is created after this call and so unchecked.
   */
  static applyTo(scope: IConstruct, props: CleanRoomChecksProps = {}): CleanRoomChecks {
    const checks = new CleanRoomChecks(props);
    if (TerraformStack.isStack(scope) || !App.isApp(scope)) {
      Aspects.of(scope).add(checks);
      return checks;
    }
    const stacks = scope.node.findAll().filter(TerraformStack.isStack);
    if (stacks.length === 0) {
      throw new InvalidPropsError(`CleanRoomChecks.applyTo(${scope.node.path || "app"}): the app has no stacks yet. Create the stacks first, then apply the checks.`);
    }
    stacks.forEach((s) => Aspects.of(s).add(checks));
    scope.node.addValidation({
      validate: () =>
        scope.node
          .findAll()
          .filter(TerraformStack.isStack)
          .filter((s) => !Aspects.of(s).all.includes(checks))
          .map((s) => `Stack ${s.node.path} was created after CleanRoomChecks.applyTo(app) and was not checked: call applyTo after creating every stack.`),
    });
    return checks;
  }

  /** The room facts the rules were given. */
  readonly context: CheckContext;
  readonly rules: readonly Rule[];
  private readonly runs = new Map<TerraformStack, StackRun>();
  private readonly props: CleanRoomChecksProps;
  /** Facts of the other rooms found in the stacks, by their policy. */
  private readonly roomContexts = new Map<CleanRoomPolicy, CheckContext>();

  constructor(props: CleanRoomChecksProps = {}) {
    this.props = props;
    this.context = checkContext(props);
    this.rules = props.rules ?? CLEAN_ROOM_RULES;
  }

  visit(node: IConstruct): void {
    if (TerraformStack.isStack(node)) {
      this.runs.set(node, this.run(node));
      return;
    }
    if (!isCheckable(node)) return;
    const stack = TerraformStack.of(node);
    let run = this.runs.get(stack);
    if (!run || run.visited.has(node.node.path)) {
      run = this.run(stack);
      this.runs.set(stack, run);
    }
    run.visited.add(node.node.path);
    for (const finding of run.findings.get(node.node.path) ?? []) annotate(node, finding);
  }

  /** Findings of the latest check of `stack` (all of them, suppressed ones included). */
  findings(stack: TerraformStack): Finding[] {
    return [...(this.runs.get(stack)?.findings.values() ?? [])].flat();
  }

  private run(stack: TerraformStack): StackRun {
    // Check the graph Terraform will see, even when these checks were added before the stack's API pass.
    if (ApiDependencies.isRegistered(stack)) applyApiDependencies(stack);
    const elements = stack.node.findAll().filter((c): c is TerraformElement => isCheckable(c) && TerraformStack.of(c) === stack);
    const items: TfResource[] = [];
    const failures = new Map<string, Finding[]>();
    const pathOf = new Map<string, string>();
    const contextOf = new Map<string, CheckContext>();
    for (const el of elements) {
      contextOf.set(el.node.path, this.roomContext(el));
      recordSuppressions(el);
      try {
        const fragment = resolveTerraform(stack, el.toTerraform()) as JsonObject;
        const mode = fragment.data ? "data" : "resource";
        const byType = (fragment[mode] ?? {}) as Record<string, Record<string, JsonObject>>;
        for (const [type, byName] of Object.entries(byType)) {
          for (const [name, config] of Object.entries(byName)) {
            const address = `${mode === "data" ? "data." : ""}${type}.${name}`;
            items.push({ mode, type, name, address, config, path: el.node.path });
            pathOf.set(address, el.node.path);
          }
        }
      } catch (err) {
        failures.set(el.node.path, [
          {
            ruleId: VALIDATION_FAILURE_ID,
            level: "error",
            address: el.node.path,
            path: el.node.path,
            message: `Could not resolve this resource for the clean-room checks (${err instanceof Error ? err.message : String(err)}), so it was NOT checked.`,
          },
        ]);
      }
    }
    const index = new ResourceIndex(items, stackFacts(stack));
    const findings = failures;
    for (const resource of [...index.resources, ...index.dataSources]) {
      const path = pathOf.get(resource.address)!;
      const list = findings.get(path) ?? [];
      list.push(...checkResource(resource, index, contextOf.get(path)!, this.rules));
      findings.set(path, list);
    }
    return { findings, visited: new Set() };
  }

  /**
   * The facts of the room `el` belongs to: a resource under a construct built from another room's
   * policy (a second `CleanRoom` in the stack) is judged by that policy (its approved digests, owners,
   * retention), not by the policy these checks were given; anything else by the checks' own facts.
   */
  private roomContext(el: IConstruct): CheckContext {
    for (let c: IConstruct | undefined = el; c; c = c.node.scope) {
      const policy = (c as { policy?: unknown }).policy;
      if (!isPolicy(policy)) continue;
      if (policy === this.context.policy || policy.name === this.context.policy?.name) return this.context;
      let context = this.roomContexts.get(policy);
      if (!context) this.roomContexts.set(policy, (context = checkContext({ ...this.props, policy })));
      return context;
    }
    return this.context;
  }
}

function isPolicy(x: unknown): x is CleanRoomPolicy {
  const p = x as Partial<CleanRoomPolicy> | undefined;
  return typeof p === "object" && p !== null && typeof p.name === "string" && Array.isArray(p.datasets) && Array.isArray(p.approvals);
}

/** The stack's name and its google provider's project, as `manatee check` reads them from cdk.tf.json. */
function stackFacts(stack: TerraformStack): StackFacts {
  const provider: Record<string, unknown[]> = {};
  for (const p of stack.node.findAll().filter((c): c is TerraformProvider => TerraformProvider.isTerraformProvider(c) && TerraformStack.of(c) === stack)) {
    try {
      const fragment = Tokenization.resolve(p.toTerraform(), { scope: stack, preparing: false, resolver: RESOLVER }) as { provider?: Record<string, unknown[]> };
      for (const [type, configs] of Object.entries(fragment.provider ?? {})) provider[type] = [...(provider[type] ?? []), ...configs];
    } catch {
      // An unresolvable provider leaves the project unknown: the rules that need it fall back to the stack name.
    }
  }
  return stackFactsOf({ "//": { metadata: { stackName: stack.node.id } }, provider });
}

function isCheckable(node: IConstruct): node is TerraformElement {
  return TerraformResource.isTerraformResource(node) || TerraformDataSource.isTerraformDataSource(node);
}

/** The annotation text of a finding (also what `cdktf synth` prints). */
export function findingText(f: Finding): string {
  return f.suppressed
    ? `[${f.ruleId}] suppressed (${f.suppressed.level}): ${f.suppressed.reason} — ${f.message}`
    : `[${f.ruleId}] ${f.message}`;
}

function annotate(node: IConstruct, f: Finding): void {
  const text = findingText(f);
  const type = f.level === "error" ? "@cdktf/error" : f.level === "warning" ? "@cdktf/warn" : "@cdktf/info";
  // Each synthesis re-invokes aspects; do not stack identical annotations.
  if (node.node.metadata.some((m) => m.type === type && m.data === text)) return;
  const a = Annotations.of(node);
  if (f.level === "error") a.addError(text);
  else if (f.level === "warning") a.addWarning(text);
  else a.addInfo(text);
}
