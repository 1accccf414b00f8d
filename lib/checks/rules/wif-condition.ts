/**
 * MCR-WIF1: a workload identity pool provider has an attribute condition, and a
 * Confidential Space provider's condition requires a production Confidential Space
 * token: `swname == 'CONFIDENTIAL_SPACE'` and, unless debug is allowed, the STABLE
 * support attribute and `dbgstat == 'disabled-since-boot'`.
 *
 * How a clause is recognised: the condition is parsed with a real CEL engine and split
 * into its top-level `&&` conjuncts. A requirement holds when some conjunct reads that
 * one claim alone and, evaluated by @bufbuild/cel, accepts a production value of it and
 * rejects every debug / non-Confidential-Space value. A clause under `||`, or mixed with
 * other claims, does not count: there is a token that passes without it.
 */
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import { ATTRIBUTE_CONDITION_MAX_LENGTH } from "../../policy/condition";
import { isConfidentialSpaceProvider } from "../../analysis/confidential-space";
import { Rule, RuleResult } from "../model";
import { isUnresolved } from "../../analysis/resource-index";
import { readString } from "../../analysis/values";

type Expr = ReturnType<typeof parse>["expr"];

/** A claim's value in a test token; ABSENT leaves the claim out. */
export const ABSENT = Symbol("absent");
/** A test token: dotted claim path under `assertion` → value. */
export type ClaimValues = Readonly<Record<string, unknown>>;

export interface ClaimRequirement {
  /** The claims (dotted paths under `assertion`) a conjunct enforcing it may read. */
  readonly claims: readonly string[];
  /** The clause to add, for the message. */
  readonly clause: string;
  readonly meaning: string;
  /** Tokens production workloads of the room present: at least one must pass. */
  readonly good: readonly ClaimValues[];
  /** Tokens the clause exists to refuse: all must be rejected. */
  readonly bad: readonly ClaimValues[];
  /**
   * A token to refuse built from a string literal of the conjunct that is not a good value, so
   * widening by `in [...]` or `||` with another literal is caught whatever the literal is.
   */
  readonly adversarial?: (literal: string) => ClaimValues | undefined;
  readonly unlessDebugAllowed: boolean;
}

/** A requirement on one claim, from the values good and bad tokens carry. */
export function claimRequirement(
  claim: string,
  fields: Omit<ClaimRequirement, "claims" | "good" | "bad" | "adversarial" | "unlessDebugAllowed"> & {
    good: readonly unknown[];
    bad: readonly unknown[];
    adversarial?: (literal: string) => unknown;
    unlessDebugAllowed?: boolean;
  },
): ClaimRequirement {
  const { adversarial } = fields;
  return {
    claims: [claim],
    clause: fields.clause,
    meaning: fields.meaning,
    good: fields.good.map((v) => ({ [claim]: v })),
    bad: fields.bad.map((v) => ({ [claim]: v })),
    adversarial: adversarial ? (literal) => (adversarial(literal) === undefined ? undefined : { [claim]: adversarial(literal) }) : undefined,
    unlessDebugAllowed: fields.unlessDebugAllowed ?? false,
  };
}

export const CONFIDENTIAL_SPACE_REQUIREMENTS: readonly ClaimRequirement[] = [
  claimRequirement("swname", {
    clause: "assertion.swname == 'CONFIDENTIAL_SPACE'",
    meaning: "the token comes from the Confidential Space image, not a plain (Confidential) VM",
    good: ["CONFIDENTIAL_SPACE"],
    bad: ["GCE", "", "CONFIDENTIAL_SPACE_DEBUG", ABSENT],
  }),
  claimRequirement("submods.confidential_space.support_attributes", {
    clause: "'STABLE' in assertion.submods.confidential_space.support_attributes",
    meaning: "the image is a supported production release; debug images carry no support attributes",
    good: [["LATEST", "STABLE", "USABLE"], ["STABLE", "USABLE"]],
    bad: [ABSENT, [], ["USABLE"], ["EXPERIMENTAL"]],
    unlessDebugAllowed: true,
  }),
  claimRequirement("dbgstat", {
    clause: "assertion.dbgstat == 'disabled-since-boot'",
    meaning: "debugging has been disabled since boot: no operator shell in the TEE",
    good: ["disabled-since-boot"],
    bad: ["enabled", "enable", "", "disabled", ABSENT],
    unlessDebugAllowed: true,
  }),
];

/** Split a condition into its top-level `&&` conjuncts. */
function conjuncts(expr: Expr): Expr[] {
  if (expr.exprKind.case === "callExpr" && expr.exprKind.value.function === "_&&_") {
    return expr.exprKind.value.args.flatMap(conjuncts);
  }
  return [expr];
}

/** The `assertion.*` claims an expression reads ("" for the whole token). */
function claimsRead(expr: Expr | undefined, out = new Set<string>()): Set<string> {
  if (!expr) return out;
  const chain = selectChain(expr);
  if (chain && chain[0] === "assertion") {
    out.add(chain.slice(1).join("."));
    return out;
  }
  const k = expr.exprKind;
  switch (k.case) {
    case "selectExpr":
      claimsRead(k.value.operand, out);
      break;
    case "callExpr":
      claimsRead(k.value.target, out);
      k.value.args.forEach((a) => claimsRead(a, out));
      break;
    case "listExpr":
      k.value.elements.forEach((e) => claimsRead(e, out));
      break;
    case "structExpr":
      k.value.entries.forEach((e) => {
        if (e.keyKind.case === "mapKey") claimsRead(e.keyKind.value, out);
        claimsRead(e.value, out);
      });
      break;
    case "comprehensionExpr":
      [k.value.iterRange, k.value.accuInit, k.value.loopCondition, k.value.loopStep, k.value.result].forEach((e) => claimsRead(e, out));
      break;
    default:
      break;
  }
  return out;
}

function selectChain(expr: Expr): string[] | undefined {
  const k = expr.exprKind;
  if (k.case === "identExpr") return [k.value.name];
  if (k.case === "selectExpr" && k.value.operand) {
    const inner = selectChain(k.value.operand);
    return inner ? [...inner, k.value.field] : undefined;
  }
  return undefined;
}

/** A token carrying exactly the given claims. */
function tokenWith(values: ClaimValues): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [claim, value] of Object.entries(values)) {
    const path = claim.split(".");
    let cur = root;
    for (const key of path.slice(0, -1)) cur = (cur[key] ??= {}) as Record<string, unknown>;
    if (value !== ABSENT) cur[path[path.length - 1]] = value;
  }
  return root;
}

/** Planned conjuncts, kept while their parse is cached. */
const planned = new WeakMap<Expr, ReturnType<typeof plan>>();

function accepts(expr: Expr, values: ClaimValues): boolean {
  let run = planned.get(expr);
  if (!run) planned.set(expr, (run = plan(celEnv(), expr)));
  const result = run({ assertion: tokenWith(values) } as never);
  // An evaluation error rejects the token, as STS does.
  return !isCelError(result) && result === true;
}

/** String literals of an expression (the values an `==`, `in` or `||` compares against). */
function literals(expr: Expr | undefined, out: string[] = []): string[] {
  if (!expr) return out;
  const k = expr.exprKind;
  if (k.case === "constExpr" && k.value.constantKind.case === "stringValue") out.push(k.value.constantKind.value);
  else if (k.case === "callExpr") [k.value.target, ...k.value.args].forEach((e) => literals(e, out));
  else if (k.case === "listExpr") k.value.elements.forEach((e) => literals(e, out));
  else if (k.case === "selectExpr") literals(k.value.operand, out);
  else if (k.case === "comprehensionExpr") [k.value.iterRange, k.value.loopStep, k.value.result].forEach((e) => literals(e, out));
  return out;
}

/** Whether some top-level conjunct enforces the requirement on its own. */
// A room's condition is parsed once for all of its requirements (it lists every approved digest).
let lastConjuncts: { condition: string; parts: Expr[] } | undefined;

function conjunctsOf(condition: string): Expr[] {
  if (lastConjuncts?.condition !== condition) lastConjuncts = { condition, parts: conjuncts(parse(condition).expr) };
  return lastConjuncts.parts;
}

export function conditionRequires(condition: string, req: ClaimRequirement): boolean {
  const parts = conjunctsOf(condition);
  return parts.some((part) => {
    const claims = claimsRead(part);
    if (claims.size === 0 || [...claims].some((c) => !req.claims.includes(c))) return false;
    const adversarial = req.adversarial ? literals(part).map(req.adversarial).filter((t): t is ClaimValues => t !== undefined) : [];
    return req.good.some((t) => accepts(part, t)) && [...req.bad, ...adversarial].every((t) => !accepts(part, t));
  });
}

export const wifCondition: Rule = {
  id: "MCR-WIF1",
  level: "error",
  title: "Workload identity providers have an attribute condition that admits only production Confidential Space",
  resourceTypes: ["google_iam_workload_identity_pool_provider"],
  check(provider, _index, context) {
    const condition = readString(provider.config.attribute_condition);
    if (condition.state === "absent" || (condition.state === "known" && condition.value.trim() === "")) {
      return [
        {
          message:
            "The provider has no attribute_condition, so Google accepts every valid token of its issuer (any VM, any image, debug or not). Set attribute_condition; for Confidential Space use compileAttributeCondition(policy) from lib/policy/condition.ts.",
        },
      ];
    }
    if (condition.state === "unknown" || isUnresolved(condition.value)) {
      return [{ level: "warning", message: `Cannot check attribute_condition: it is the expression ${JSON.stringify(provider.config.attribute_condition)}. Use a literal CEL string.` }];
    }
    const cs = isConfidentialSpaceProvider(provider);
    if (cs === "no") return [];
    if (cs === "unknown") {
      return [{ level: "warning", message: "Cannot tell whether this provider federates Confidential Space: oidc.issuer_uri is an expression. Use the literal https://confidentialcomputing.googleapis.com/." }];
    }
    const out: RuleResult[] = [];
    if (condition.value.length > ATTRIBUTE_CONDITION_MAX_LENGTH) {
      out.push({ message: `attribute_condition is ${condition.value.length} characters; Google's limit is ${ATTRIBUTE_CONDITION_MAX_LENGTH}, so the provider cannot be created. Shorten it.` });
    }
    try {
      parse(condition.value);
    } catch (err) {
      return [...out, { message: `attribute_condition is not valid CEL (${(err as Error).message.split("\n")[0]}). Fix the expression.` }];
    }
    for (const req of CONFIDENTIAL_SPACE_REQUIREMENTS) {
      if (req.unlessDebugAllowed && context.allowDebug) continue;
      if (!conditionRequires(condition.value, req)) {
        out.push({
          message: `attribute_condition does not require ${req.clause} (${req.meaning}). It must be a top-level && clause on its own: a clause under || or combined with other claims lets tokens through without it. Add "&& ${req.clause}".`,
        });
      }
    }
    return out;
  },
};
