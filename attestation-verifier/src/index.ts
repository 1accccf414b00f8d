/** The attestation verifier as a library: the core, its adapters, signers and policy loading. */
export { createVerifier } from "./verifier";
export type { Verifier, VerifierOptions } from "./verifier";
export type { VerifierRequest, VerifierResponse } from "./http";
export { MAX_BODY_BYTES } from "./http";
export { REASONS, REQUEST_ERRORS } from "./reasons";
export type { Reason, ReasonCode, RequestErrorCode } from "./reasons";
export { RECEIPT_TYP } from "./receipt";
export type { ReceiptClaims } from "./receipt";
export { fileSigner, generatedSigner, kmsSigner, localSigner, derToJose, crc32c, ecThumbprint } from "./signers";
export type { ReceiptSigner, ReceiptPublicJwk, KmsSignerOptions } from "./signers";
export { GOOGLE_CONFIDENTIAL_SPACE_JWKS_URL } from "./token";
export type { JwksOptions } from "./token";
export { canonicalJson, policySha256, parsePolicyDocument, validatePolicyDocument, PolicyError } from "./policy";
export { verifierFromEnv, ENV_VARS, ConfigError } from "./config";
export { startLocalServer, requestListener } from "./node-server";
export type { LocalServer, LocalServerOptions } from "./node-server";
export { cloudFunction } from "./cloud-function";
export type { AuditRecord, AuditSink } from "./audit";
