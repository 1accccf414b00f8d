/**
 * The audit trail: one JSON line per request on stdout, in Cloud Logging's structured
 * format. It names the token by hash only; the token itself is a bearer credential for
 * as long as it lives and must never reach a log.
 */
import type { BudgetReceiptEntry } from "./budget";

export type Severity = "INFO" | "WARNING" | "ERROR";

export interface AuditRecord {
  readonly severity: Severity;
  readonly message: string;
  /** allow / deny are decisions; rejected is a malformed request; error is the verifier's own failure. */
  readonly decision: "allow" | "deny" | "rejected" | "error";
  readonly reasons: readonly string[];
  readonly clean_room: string;
  readonly policy_sha256: string;
  readonly dataset?: string;
  readonly image_digest?: string;
  readonly token_sha256?: string;
  readonly receipt_jti?: string;
  /** The nonce a /v1/verify request named (the receipt binds it). */
  readonly nonce?: string;
  /** Set on records of POST /v1/release (absent on /v1/verify's). */
  readonly operation?: "release";
  /** The job whose outputs a release concerns. */
  readonly job?: string;
  /** The datasets a release names (every one must approve the token). */
  readonly datasets?: readonly string[];
  /** Hex SHA-256 of the release manifest {job, objects}: what the token's nonce must be. */
  readonly manifest_sha256?: string;
  /** The released objects, on an allowed release, with the bucket and object each was copied to. */
  readonly objects?: readonly { readonly name: string; readonly sha256: string; readonly bucket?: string; readonly object?: string }[];
  /** What an allowed release spent of each dataset's privacy budget, and what remains (budget.ts). */
  readonly budget?: readonly BudgetReceiptEntry[];
  readonly component: "manatee-attestation-verifier";
}

export type AuditSink = (record: AuditRecord) => void;

/** Cloud Logging (Cloud Functions, Cloud Run) turns each stdout JSON line into a structured entry. */
export const stdoutSink: AuditSink = (record) => {
  process.stdout.write(`${JSON.stringify(record)}\n`);
};
