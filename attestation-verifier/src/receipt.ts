/**
 * The release receipt: a compact JWS (ES256) an auditor can verify offline with the
 * verifier's JWKS. It binds the attestation token (by hash), the policy (by hash), the
 * dataset, the image and the nonce the output was bound to.
 */
import { randomUUID } from "node:crypto";
import { VerifierApproval } from "./policy";
import { ReceiptSigner } from "./signers";

/** Explicit type (RFC 8725 §3.11): a receipt can never pass as another kind of JWT. */
export const RECEIPT_TYP = "manatee-receipt+jwt";

export interface ReceiptClaims {
  /** Who issued the receipt: the verifier's audience unless configured otherwise. */
  readonly iss: string;
  /** The attested VM (the token's sub), when the token names one. */
  readonly sub?: string;
  readonly jti: string;
  readonly iat: number;
  readonly clean_room: string;
  readonly dataset: string;
  readonly image_digest: string;
  readonly image_reference?: string;
  /** The nonce the caller asked to be bound; null when none was requested. */
  readonly nonce: string | null;
  /** Hex SHA-256 of the attestation token string. */
  readonly token_sha256: string;
  readonly token_iat: number;
  readonly token_exp: number;
  /** Hex SHA-256 of the canonical policy document, as printed by `manatee policy`. */
  readonly policy_sha256: string;
  readonly hwmodel?: string;
  readonly swversion?: readonly string[];
  /** The approval that granted the release. */
  readonly approval: { readonly purpose: string; readonly approved_by: string; readonly not_after?: string };
}

export interface ReceiptInput {
  readonly issuer: string;
  readonly cleanRoom: string;
  readonly dataset: string;
  readonly imageDigest: string;
  readonly nonce?: string;
  readonly tokenSha256: string;
  readonly policySha256: string;
  readonly claims: Record<string, unknown>;
  readonly approval: VerifierApproval;
  readonly nowMs: number;
}

export function receiptClaims(input: ReceiptInput): ReceiptClaims {
  const c = input.claims;
  const container = (c.submods as { container?: Record<string, unknown> } | undefined)?.container;
  const swversion = Array.isArray(c.swversion) && c.swversion.every((v) => typeof v === "string") ? (c.swversion as string[]) : undefined;
  return {
    iss: input.issuer,
    ...(typeof c.sub === "string" ? { sub: c.sub } : {}),
    jti: randomUUID(),
    iat: Math.floor(input.nowMs / 1000),
    clean_room: input.cleanRoom,
    dataset: input.dataset,
    image_digest: input.imageDigest,
    ...(typeof container?.image_reference === "string" ? { image_reference: container.image_reference } : {}),
    nonce: input.nonce ?? null,
    token_sha256: input.tokenSha256,
    token_iat: c.iat as number,
    token_exp: c.exp as number,
    policy_sha256: input.policySha256,
    ...(typeof c.hwmodel === "string" ? { hwmodel: c.hwmodel } : {}),
    ...(swversion ? { swversion } : {}),
    approval: {
      purpose: input.approval.purpose,
      approved_by: input.approval.approvedBy,
      ...(input.approval.notAfter !== undefined ? { not_after: input.approval.notAfter } : {}),
    },
  };
}

/** The encoded protected header, constant per signer. */
const encodedHeaders = new WeakMap<ReceiptSigner, string>();

/** Compact JWS with the signer's kid; the signer returns JOSE's raw r||s. */
export async function signReceipt(signer: ReceiptSigner, claims: ReceiptClaims): Promise<string> {
  let header = encodedHeaders.get(signer);
  if (header === undefined) {
    header = b64url(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ: RECEIPT_TYP }));
    encodedHeaders.set(signer, header);
  }
  const signingInput = `${header}.${b64url(JSON.stringify(claims))}`;
  const signature = await signer.sign(Buffer.from(signingInput, "ascii"));
  if (signature.length !== 64) throw new Error(`receipt signer returned ${signature.length} bytes, not the 64 of ES256`);
  return `${signingInput}.${Buffer.from(signature).toString("base64url")}`;
}

function b64url(text: string): string {
  return Buffer.from(text, "utf8").toString("base64url");
}
