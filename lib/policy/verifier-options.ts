/**
 * Room-file options of the attestation verifier beyond its audience: whether a `/v1/verify`
 * request must name a nonce. Why its own file: the verifier document (document.ts), the room-file
 * validation and the construct read the same default from one place.
 */
import type { VerifierPolicy } from "./model";

/**
 * `verifier.requireNonce`: a nonce binds a receipt to one output and makes each decision
 * single-purpose. Secure by default; `false` is for test rooms whose clients cannot pass one.
 */
export const DEFAULT_REQUIRE_NONCE = true;

/** The effective `verifier.requireNonce` of a normalized room. */
export function verifierRequiresNonce(verifier: Pick<VerifierPolicy, "requireNonce">): boolean {
  return verifier.requireNonce ?? DEFAULT_REQUIRE_NONCE;
}
