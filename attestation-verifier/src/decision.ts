/**
 * The release decision on authenticated claims: the attribute condition (the same CEL
 * string Google's STS evaluates), the image's approval for the dataset and its expiry,
 * and the nonce binding. Every failing rule is reported, not only the first.
 */
import { VerifierApproval, VerifierPolicyDocument, PlannedCondition, approvalsIndex } from "./policy";
import { Reason, reason } from "./reasons";

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface DecisionInput {
  readonly claims: Record<string, unknown>;
  readonly dataset: string;
  readonly nonce?: string;
  readonly nowMs: number;
}

export interface DecisionResult {
  readonly reasons: Reason[];
  /** The digest, when the claim is well formed (for the audit record). */
  readonly imageDigest?: string;
  /** The approval that grants the release, when one does. */
  readonly approval?: VerifierApproval;
}

export type Decide = (input: DecisionInput) => DecisionResult;

/** Build the decision function once per policy: condition planned, approvals indexed. */
export function decisionFor(document: VerifierPolicyDocument, condition: PlannedCondition): Decide {
  const approvals = approvalsIndex(document);
  const datasets = new Set(document.datasets);
  return ({ claims, dataset, nonce, nowMs }) => {
    const reasons: Reason[] = [];

    const evaluated = condition(claims);
    if (!evaluated.ok) reasons.push(reason("attribute_condition_error", `CEL: ${evaluated.error}.`));
    else if (!evaluated.value) reasons.push(reason("attribute_condition_false"));

    // Defence in depth: the condition already requires a production image, but a hand-edited
    // condition must not be able to let a debug image through on its own.
    if (!document.allowDebug) {
      const supportAttributes = at(claims, "submods", "confidential_space", "support_attributes");
      if (claims.dbgstat !== "disabled-since-boot" || !Array.isArray(supportAttributes)) {
        reasons.push(reason("debug_image", `dbgstat is ${JSON.stringify(claims.dbgstat) ?? "missing"}.`));
      }
    }

    const digestClaim = at(claims, "submods", "container", "image_digest");
    const imageDigest = typeof digestClaim === "string" && DIGEST.test(digestClaim) ? digestClaim : undefined;
    if (!imageDigest) reasons.push(reason("image_digest_invalid", `Found ${kind(digestClaim)}.`));

    const knownDataset = datasets.has(dataset);
    if (!knownDataset) reasons.push(reason("dataset_unknown", `Known datasets: ${document.datasets.join(", ")}.`));

    let approval: VerifierApproval | undefined;
    if (imageDigest) {
      const grants = approvals.get(imageDigest) ?? [];
      if (grants.length === 0) {
        reasons.push(reason("image_not_approved", `Digest ${imageDigest}.`));
      } else if (knownDataset) {
        const forDataset = grants.filter((g) => g.dataset === dataset);
        if (forDataset.length === 0) {
          const others = [...new Set(grants.map((g) => g.dataset))].join(", ");
          reasons.push(reason("image_not_approved_for_dataset", `Digest ${imageDigest} is approved for ${others}, not ${dataset}.`));
        } else {
          // notAfter is the first instant the approval no longer holds.
          const holding = forDataset.find((g) => g.notAfterMs === undefined || nowMs < g.notAfterMs);
          if (holding) approval = holding.approval;
          else {
            const last = forDataset
              .map((g) => g.approval.notAfter)
              .sort()
              .pop();
            reasons.push(reason("approval_expired", `It held until ${last}.`));
          }
        }
      }
    }

    const eatNonce = claims.eat_nonce;
    const nonces =
      typeof eatNonce === "string"
        ? [eatNonce]
        : Array.isArray(eatNonce) && eatNonce.every((n) => typeof n === "string")
        ? (eatNonce as string[])
        : eatNonce === undefined
        ? []
        : undefined;
    if (!nonces) reasons.push(reason("eat_nonce_invalid", `Found ${kind(eatNonce)}.`));
    else if (nonce !== undefined && !nonces.includes(nonce)) {
      reasons.push(
        reason(
          "nonce_mismatch",
          nonces.length === 0 ? "The token carries no eat_nonce." : `The token carries ${nonces.length} other nonce(s).`
        )
      );
    }

    return { reasons, imageDigest, approval: reasons.length === 0 ? approval : undefined };
  };
}

/** A nested claim, or undefined when any step is missing or not an object. */
export function at(value: unknown, ...path: string[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== "object" || Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function kind(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v)}`;
  return `a ${typeof v}`;
}
