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

const ABSENT = Symbol("absent");

interface ClaimRequirement {
  /** Dotted path under `assertion`. */
  readonly claim: string;
  /** The clause to add, for the message. */
  readonly clause: string;
  readonly meaning: string;
  /** Values production tokens carry: at least one must pass. */
  readonly good: readonly unknown[];
  /** Values debug images or plain VMs carry (or a missing claim): all must be rejected. */
  readonly bad: readonly unknown[];
  readonly unlessDebugAllowed: boolean;
}

export const CONFIDENTIAL_SPACE_REQUIREMENTS: readonly ClaimRequirement[] = [
  {
    claim: "swname",
    clause: "assertion.swname == 'CONFIDENTIAL_SPACE'",
    meaning: "the token comes from the Confidential Space image, not a plain (Confidential) VM",
    good: ["CONFIDENTIAL_SPACE"],
    bad: ["GCE", "", "CONFIDENTIAL_SPACE_DEBUG", ABSENT],
    unlessDebugAllowed: false,
  },
  {
    claim: "submods.confidential_space.support_attributes",
    clause: "'STABLE' in assertion.submods.confidential_space.support_attributes",
    meaning: "the image is a supported production release; debug images carry no support attributes",
    good: [["LATEST", "STABLE", "USABLE"], ["STABLE", "USABLE"]],
    bad: [ABSENT, [], ["USABLE"], ["EXPERIMENTAL"]],
    unlessDebugAllowed: true,
  },
  {
    claim: "dbgstat",
    clause: "assertion.dbgstat == 'disabled-since-boot'",
    meaning: "debugging has been disabled since boot: no operator shell in the TEE",
    good: ["disabled-since-boot"],
    bad: ["enabled", "enable", "", "disabled", ABSENT],
    unlessDebugAllowed: true,
  },
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

/** A token carrying only `claim` (or lacking it). */
function tokenWith(claim: string, value: unknown): Record<string, unknown> {
  const path = claim.split(".");
  const root: Record<string, unknown> = {};
  let cur = root;
  for (const key of path.slice(0, -1)) {
    const next: Record<string, unknown> = {};
    cur[key] = next;
    cur = next;
  }
  if (value !== ABSENT) cur[path[path.length - 1]] = value;
  return root;
}

function accepts(expr: Expr, claim: string, value: unknown): boolean {
  const result = plan(celEnv(), expr)({ assertion: tokenWith(claim, value) } as never);
  // An evaluation error rejects the token, as STS does.
  return !isCelError(result) && result === true;
}

/** Whether some top-level conjunct enforces the requirement on its own. */
export function conditionRequires(condition: string, req: ClaimRequirement): boolean {
  const parts = conjuncts(parse(condition).expr);
  return parts.some((part) => {
    const claims = claimsRead(part);
    if (claims.size !== 1 || !claims.has(req.claim)) return false;
    return req.good.some((v) => accepts(part, req.claim, v)) && req.bad.every((v) => !accepts(part, req.claim, v));
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
