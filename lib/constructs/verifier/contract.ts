/**
 * The verifier function's runtime contract: the environment variables it reads, the object it
 * publishes its receipt JWKS to, and the command that builds its bundle.
 *
 * Why its own file: these names are shared by the construct, the CleanRoom outputs and the tests,
 * and must match attestation-verifier/src/config.ts; kept apart so the contract reads in one place.
 */
import { PUBLIC_JWKS_USE } from "../../internal/common";

/**
 * The function's runtime contract: the env it reads (attestation-verifier/src/config.ts).
 * Exported so tests and the CleanRoom outputs name the same variables.
 */
export const VERIFIER_ENV = {
  policyUri: "VERIFIER_POLICY_URI",
  policySha256: "VERIFIER_POLICY_SHA256",
  kmsKeyVersion: "VERIFIER_KMS_KEY_VERSION",
  publicJwksUri: "VERIFIER_PUBLIC_JWKS_URI",
  auditBucket: "VERIFIER_AUDIT_BUCKET",
} as const;

/**
 * The log the verifier's decision records land in: Cloud Run ships a gen2 function's stdout as
 * `projects/<p>/logs/run.googleapis.com%2Fstdout` (the verifier writes no named log), so the audit
 * sink pins exactly this log.
 */
/**
 * Prefix of the once-only markers in the audit bucket; the verifier may only create objects
 * under it. The same string as REPLAY_MARKER_PREFIX in attestation-verifier/src/replay.ts
 * (constructs do not import the verifier's sources; test/verifier-construct.test.ts keeps them equal).
 */
export const REPLAY_MARKER_PREFIX = "replay/";

/**
 * Prefix of the privacy-budget ledger's records in the audit bucket; the verifier may read and
 * create objects under it. The same string as BUDGET_RECORD_PREFIX in attestation-verifier/src/budget.ts.
 */
export const BUDGET_RECORD_PREFIX = "budget/";

export const VERIFIER_LOG_ID = "run.googleapis.com%2Fstdout";

/** The object the verifier publishes its receipt JWKS to, in the public JWKS bucket. */
export const PUBLIC_JWKS_OBJECT = "jwks.json";

export { PUBLIC_JWKS_USE };

/** Command that assembles the deployable bundle (attestation-verifier/scripts/build.js). */
export const VERIFIER_BUILD_COMMAND = "node attestation-verifier/scripts/build.js";
