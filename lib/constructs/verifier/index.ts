/**
 * The attestation verifier: the clean room's policy decision point, deployed as a Cloud
 * Functions gen2 function beside its receipt-signing key, the policy it enforces, the IAM
 * that may call it and the bucket its decisions are audited into (DESIGN.md §4, §6).
 *
 * This file is the barrel: the code lives in lib/constructs/verifier/ (contract, props, bundle, settings,
 * attestation-verifier), one concept per file. Only the names public before the split are
 * exported here; the helpers shared between those files (settings, bundle zip) stay internal.
 */
export { PUBLIC_JWKS_OBJECT, PUBLIC_JWKS_USE, VERIFIER_BUILD_COMMAND, VERIFIER_ENV, VERIFIER_LOG_ID } from "./contract";
export { VerifierIngress } from "./props";
export type {
  AttestationVerifierProps,
  ReceiptKeyOptions,
  ReceiptKeyProtection,
  VerifierAuditOptions,
  VerifierEncryptionKey,
  VerifierFunctionOptions,
} from "./props";
export { directoryHash } from "./bundle";
export { AttestationVerifier } from "./attestation-verifier";
export { ReceiptKey, RECEIPT_KEY_ALGORITHM } from "./receipt-key";
export type { ReceiptKeyProps } from "./receipt-key";
