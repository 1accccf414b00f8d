/**
 * Why a release was denied. Codes are stable API: clients, alerts and auditors match on
 * them. Messages are for humans and may change. Neither ever carries the token itself.
 */
export const REASONS = {
  // The token could not be authenticated: the decision stops here.
  token_malformed: "The token is not a compact JWS with canonical base64url parts and a JSON header.",
  token_alg_none: "The token is unsecured (alg none).",
  token_alg_not_allowed: "The token is signed with an algorithm other than RS256.",
  token_typ_invalid: "The token header declares a typ other than JWT.",
  token_kid_missing: "The token header names no key (kid).",
  token_key_unknown: "No key in the Confidential Space JWKS has the token's kid.",
  token_signature_invalid: "The token signature does not verify with the Confidential Space key.",
  jwks_unavailable: "The Confidential Space JWKS could not be fetched; the verifier fails closed.",
  token_payload_invalid: "The token payload is not a JSON object.",
  // Authenticated, but the claims are not acceptable: every failing check is reported.
  token_issuer_invalid: "The token was not issued by Confidential Space.",
  token_audience_invalid: "The token's audience is not the clean room's verifier audience.",
  token_time_claims_invalid: "exp, nbf or iat is missing or not a number.",
  token_expired: "The token has expired.",
  token_not_yet_valid: "The token is not valid yet (nbf in the future).",
  token_issued_in_future: "The token's iat lies in the future.",
  token_too_old: "The token was issued more than an hour ago.",
  attribute_condition_false: "The workload identity provider's attribute condition is false for these claims.",
  attribute_condition_error: "The attribute condition could not be evaluated on these claims (e.g. a missing claim).",
  debug_image: "The token comes from a debug Confidential Space image; the policy does not allow debug.",
  image_digest_invalid: "submods.container.image_digest is missing or not a sha256:<64 hex> string.",
  dataset_unknown: "The requested dataset is not part of the clean room's policy.",
  image_not_approved: "The image digest is not approved for any dataset.",
  image_not_approved_for_dataset: "The image digest is approved, but not for the requested dataset.",
  approval_expired: "The approval of this image for this dataset has expired.",
  gpu_mismatch: "The token's GPU state does not match the approval's gpu mode (docs/gpu.md).",
  eat_nonce_invalid: "eat_nonce is neither a string nor an array of strings.",
  nonce_mismatch: "The requested nonce is not among the token's eat_nonce values.",
  nonce_required:
    "The request names no nonce, and the policy requires one (verifier.requireNonce): send the nonce the token's eat_nonce carries.",
  token_replayed: "This token has already been decided on; each token is decided once. Request a new token.",
  // Per-job approval (policy.jobApprovals): the data owner's signature on the image.
  job_signature_missing:
    "The image carries no ECDSA_P256_SHA256 signature by this dataset's approver key (submods.container.image_signatures).",
  job_condition_false: "The dataset's job-approval attribute condition is false for these claims.",
  job_condition_error: "The dataset's job-approval attribute condition could not be evaluated on these claims.",
  // Consortium rooms (policy.parties): each party approves the image for its own datasets.
  party_approval_missing:
    "The dataset belongs to a party that gave no holding approval of this image digest for it (nor signed the image with the dataset's approver key); in a consortium only a dataset's own party can approve it, and a decision covering several parties' datasets needs each party's approval.",
  party_approvals_unsigned:
    "The dataset's party pins an approvals-signing key (parties[].approvalsKey), and the approval this decision needs is not covered by that key's signature (approvalsJws missing, invalid, over other approvals, or for another room or party), so it does not count.",
  // Output release (POST /v1/release): the token, the manifest and the objects must agree.
  manifest_nonce_mismatch:
    "The token's eat_nonce is not exactly one value equal to the hex SHA-256 of the release manifest {job, objects}.",
  instance_not_job: "submods.gce.instance_name is not <instancePrefix>-<job>: a TEE releases only its own job's outputs.",
  object_missing: "A listed object is not in the quarantine bucket under <job>/.",
  object_hash_mismatch: "A listed object's SHA-256 in the quarantine bucket differs from the manifest.",
  release_too_large: "The listed objects together exceed the verifier's release size limit.",
  release_replayed: "This token has already been used for a release; each token releases once.",
  provisioning_scope:
    "The image is a dataset's provisioning image: it releases that one dataset's output, into its stage-1 bucket, and nothing else.",
  // The privacy-budget ledger (budget.ts).
  budget_exhausted: "The release would spend more of a dataset's privacy budget than remains.",
} as const;

export type ReasonCode = keyof typeof REASONS;

export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
}

export function reason(code: ReasonCode, detail?: string): Reason {
  return { code, message: detail ? `${REASONS[code]} ${detail}` : REASONS[code] };
}

/** Errors of the HTTP contract (4xx), not decisions. */
export const REQUEST_ERRORS = {
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invalid_json: 400,
  invalid_request: 400,
  unknown_field: 400,
  release_not_configured: 404,
  release_incomplete: 409,
  signer_unavailable: 503,
  verifier_unavailable: 503,
  storage_unavailable: 503,
  internal_error: 500,
} as const;

export type RequestErrorCode = keyof typeof REQUEST_ERRORS;
