/**
 * The release decision on authenticated claims. A token is approved for a dataset by
 * either of two routes:
 *   - standing: the room's attribute condition (the same CEL string Google's STS
 *     evaluates) holds and the image digest has an unexpired approval for the dataset;
 *   - signature: the dataset has a `jobApprovals` entry, the image carries an
 *     ECDSA_P256_SHA256 signature by that entry's key, and the entry's condition holds.
 * Plus the debug-image check and the nonce binding, which hold for both. Every failing
 * rule is reported, not only the first. In a consortium a dataset's approval must be its
 * own party's (and, when the party pins a key, signed by it); a party's approver-key
 * signature is its approval by the signature route.
 */
import { PartySignatures, uncountedBecause, unverifiedSignatures } from "./party-approvals";
import { JOB_SIGNATURE_ALGORITHM, PlannedCondition, VerifierApproval, VerifierJobApproval, VerifierPolicyDocument, approvalsIndex } from "./policy";
import { gpuReasons } from "./gpu";
import { Reason, reason } from "./reasons";

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface DecisionInput {
  readonly claims: Record<string, unknown>;
  readonly dataset: string;
  readonly nonce?: string;
  readonly nowMs: number;
}

/** What approved a token for a dataset: a standing approval, or the data owner's signature on the image. */
export type GrantedBy =
  | { readonly source: "standing"; readonly approval: VerifierApproval }
  | { readonly source: "signature"; readonly keyId: string; readonly signatureAlgorithm: typeof JOB_SIGNATURE_ALGORITHM };

export interface DecisionResult {
  readonly reasons: Reason[];
  /** The digest, when the claim is well formed (for the audit record). */
  readonly imageDigest?: string;
  /** What grants the release, when something does (and no rule failed). */
  readonly grantedBy?: GrantedBy;
  /** The party holding the dataset, in a consortium; its approval is `grantedBy`. */
  readonly party?: string;
}

export type Decide = (input: DecisionInput) => DecisionResult;

/**
 * Build the decision function once per policy: conditions planned, approvals indexed.
 * `jobConditions` are the planned conditions of `document.jobApprovals`, in order;
 * `signatures` the verified approvals signatures of the parties (party-approvals.ts).
 */
export function decisionFor(
  document: VerifierPolicyDocument,
  condition: PlannedCondition,
  jobConditions: readonly PlannedCondition[] = [],
  signatures: PartySignatures = unverifiedSignatures(document)
): Decide {
  const counts = (a: VerifierApproval) => uncountedBecause(a, signatures) === undefined;
  const approvals = approvalsIndex(document, counts);
  // Kept to tell "the party approved nothing" from "its approval is not signed".
  const uncounted = approvalsIndex(document, (a) => !counts(a));
  const holder = new Map((document.parties ?? []).flatMap((p) => p.datasets.map((d): [string, string] => [d, p.name])));
  const datasets = new Set(document.datasets);
  const jobApprovals = new Map<string, { entry: VerifierJobApproval; condition: PlannedCondition }>();
  (document.jobApprovals ?? []).forEach((entry, i) => {
    const planned = jobConditions[i];
    // Never a job approval without its condition: a missing plan would otherwise read as "no condition".
    if (!planned) throw new Error(`jobApprovals[${i}]: no planned condition; build the decision from preparePolicy's result.`);
    jobApprovals.set(entry.dataset, { entry, condition: planned });
  });
  return ({ claims, dataset, nonce, nowMs }) => {
    // Rules of both routes; the standing route's own failures (room condition, approval) are
    // kept apart and reported only when the signature route fails too. Order as before jobApprovals.
    const reasons: Reason[] = [];
    const roomCondition: Reason[] = [];
    const standing: Reason[] = [];

    const evaluated = condition(claims);
    if (!evaluated.ok) roomCondition.push(reason("attribute_condition_error", `CEL: ${evaluated.error}.`));
    else if (!evaluated.value) roomCondition.push(reason("attribute_condition_false"));

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
    const party = knownDataset ? holder.get(dataset) : undefined;
    if (!knownDataset) reasons.push(reason("dataset_unknown", `Known datasets: ${document.datasets.join(", ")}.`));

    let approval: VerifierApproval | undefined;
    if (imageDigest) {
      const grants = approvals.get(imageDigest) ?? [];
      if (grants.length === 0) {
        standing.push(reason("image_not_approved", `Digest ${imageDigest}.`));
      } else if (knownDataset) {
        // Only the dataset's own party approves it (validation ensures it; checked again here).
        const forDataset = grants.filter((g) => g.dataset === dataset && g.approval.party === party);
        if (forDataset.length === 0) {
          const others = [...new Set(grants.map((g) => g.dataset))].join(", ");
          standing.push(reason("image_not_approved_for_dataset", `Digest ${imageDigest} is approved for ${others}, not ${dataset}.`));
        } else {
          // notAfter is the first instant the approval no longer holds.
          const holding = forDataset.find((g) => g.notAfterMs === undefined || nowMs < g.notAfterMs);
          const gpuRefusal = holding ? gpuReasons(holding.approval, claims) : [];
          if (holding && gpuRefusal.length === 0) approval = holding.approval;
          else if (holding) standing.push(...gpuRefusal);
          else {
            const last = forDataset
              .map((g) => g.approval.notAfter)
              .sort()
              .pop();
            standing.push(reason("approval_expired", `It held until ${last}.`));
          }
        }
      }
      if (party !== undefined && !approval) {
        const unsigned = (uncounted.get(imageDigest) ?? []).find((g) => g.dataset === dataset && g.approval.party === party);
        standing.push(
          unsigned
            ? reason("party_approvals_unsigned", `Party ${party}, dataset ${dataset}: ${uncountedBecause(unsigned.approval, signatures)}.`)
            : reason("party_approval_missing", `Party ${party} gave no holding approval of ${imageDigest} for its dataset ${dataset}.`)
        );
      }
    }

    let grantedBy: GrantedBy | undefined;
    if (roomCondition.length === 0 && standing.length === 0 && approval) grantedBy = { source: "standing", approval };
    else {
      // Only this dataset's entry is consulted: a signature by dataset A's key never approves B.
      const job = knownDataset ? jobApprovals.get(dataset) : undefined;
      const bySignature: Reason[] = [];
      if (job) {
        if (!hasSignature(claims, job.entry.keyId)) {
          bySignature.push(reason("job_signature_missing", `Dataset ${dataset} needs key_id ${job.entry.keyId}.`));
        }
        const jobEvaluated = job.condition(claims);
        if (!jobEvaluated.ok) bySignature.push(reason("job_condition_error", `Dataset ${dataset}, CEL: ${jobEvaluated.error}.`));
        else if (!jobEvaluated.value) bySignature.push(reason("job_condition_false", `Dataset ${dataset}.`));
        if (bySignature.length === 0) {
          grantedBy = { source: "signature", keyId: job.entry.keyId, signatureAlgorithm: JOB_SIGNATURE_ALGORITHM };
        }
      }
      // Neither route holds: report both, so the caller sees what each would need.
      if (!grantedBy) {
        reasons.unshift(...roomCondition);
        reasons.push(...standing, ...bySignature);
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

    return { reasons, imageDigest, grantedBy: reasons.length === 0 ? grantedBy : undefined, ...(party !== undefined ? { party } : {}) };
  };
}

/** The token's image carries a signature by `keyId` with the approver keys' algorithm. */
function hasSignature(claims: Record<string, unknown>, keyId: string): boolean {
  const signatures = at(claims, "submods", "container", "image_signatures");
  if (!Array.isArray(signatures)) return false;
  return signatures.some(
    (s) =>
      s !== null &&
      typeof s === "object" &&
      (s as Record<string, unknown>).signature_algorithm === JOB_SIGNATURE_ALGORITHM &&
      (s as Record<string, unknown>).key_id === keyId
  );
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
