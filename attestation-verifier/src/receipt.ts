/**
 * The release receipt: a compact JWS (ES256) an auditor can verify offline with the
 * verifier's JWKS. It binds the attestation token (by hash), the policy (by hash), the
 * dataset, the image and the nonce the output was bound to.
 */
import { randomUUID } from "node:crypto";
import type { BudgetReceiptEntry } from "./budget";
import { GrantedBy } from "./decision";
import type { ReleaseDestination } from "./destination";
import { ReceiptSigner } from "./signers";

/** Explicit type (RFC 8725 §3.11): a receipt can never pass as another kind of JWT. */
export const RECEIPT_TYP = "manatee-receipt+jwt";

/** The claims both receipt kinds carry; their JSON order is set by receiptHead and tokenEvidence. */
export interface ReceiptCommonClaims {
  /** Who issued the receipt: the verifier's audience unless configured otherwise. */
  readonly iss: string;
  /** The attested VM (the token's sub), when the token names one. */
  readonly sub?: string;
  readonly jti: string;
  readonly iat: number;
  readonly image_digest: string;
  readonly image_reference?: string;
  /** Hex SHA-256 of the attestation token string. */
  readonly token_sha256: string;
  readonly token_iat: number;
  readonly token_exp: number;
  /** Hex SHA-256 of the canonical policy document, as printed by `manatee policy`. */
  readonly policy_sha256: string;
  readonly hwmodel?: string;
  readonly swversion?: readonly string[];
}

export interface ReceiptClaims extends ReceiptCommonClaims {
  readonly clean_room: string;
  readonly dataset: string;
  /** The nonce the caller asked to be bound; null when none was requested. */
  readonly nonce: string | null;
  /** What granted the release: a standing approval, or the data owner's signature on the image. */
  readonly approval: ReceiptApproval;
  /** Consortium rooms only: the party holding the dataset and its approval (absent in a single-project room). */
  readonly parties?: readonly ReceiptParty[];
}

/** A standing approval is named by its purpose and approver; a signature by its key. */
export type ReceiptApproval =
  | { readonly source: "standing"; readonly purpose: string; readonly approved_by: string; readonly not_after?: string }
  | { readonly source: "signature"; readonly key_id: string; readonly signature_algorithm: string };

export function receiptApproval(grantedBy: GrantedBy): ReceiptApproval {
  if (grantedBy.source === "signature") {
    return { source: "signature", key_id: grantedBy.keyId, signature_algorithm: grantedBy.signatureAlgorithm };
  }
  const a = grantedBy.approval;
  return {
    source: "standing",
    purpose: a.purpose,
    approved_by: a.approvedBy,
    ...(a.notAfter !== undefined ? { not_after: a.notAfter } : {}),
  };
}

/**
 * A consortium party's approval, as docs/consortium-contract.md names it: the standing approval
 * `{imageDigest, purpose, approvedBy, expires?}`, or the party's approver-key signature.
 */
export type PartyApproval =
  | { readonly imageDigest: string; readonly purpose: string; readonly approvedBy: string; readonly expires?: string }
  | { readonly imageDigest: string; readonly keyId: string; readonly signatureAlgorithm: string };

/** One party of a consortium decision, with the datasets its approval covered. */
export interface ReceiptParty {
  readonly name: string;
  readonly datasets: readonly string[];
  readonly approval: PartyApproval;
}

/** A dataset's grant, with the party holding it in a consortium. */
export interface DatasetGrant {
  readonly dataset: string;
  readonly grantedBy: GrantedBy;
  readonly party?: string;
}

/**
 * The parties of a decision: one entry per party and approval (a party whose datasets were
 * granted by two approvals appears twice, each entry with its datasets). Undefined when no
 * dataset belongs to a party, so single-project receipts keep their shape.
 */
export function receiptParties(imageDigest: string, grants: readonly DatasetGrant[]): ReceiptParty[] | undefined {
  const entries = new Map<string, { name: string; datasets: string[]; approval: PartyApproval }>();
  for (const g of grants) {
    if (g.party === undefined) continue;
    const by = g.grantedBy;
    const approval: PartyApproval =
      by.source === "signature"
        ? { imageDigest, keyId: by.keyId, signatureAlgorithm: by.signatureAlgorithm }
        : {
            imageDigest,
            purpose: by.approval.purpose,
            approvedBy: by.approval.approvedBy,
            ...(by.approval.expires !== undefined ? { expires: by.approval.expires } : {}),
          };
    const id = `${g.party}\n${JSON.stringify(approval)}`;
    const entry = entries.get(id) ?? { name: g.party, datasets: [], approval };
    entry.datasets.push(g.dataset);
    entries.set(id, entry);
  }
  return entries.size > 0 ? [...entries.values()] : undefined;
}

/** What both receipt kinds are built from: the issuer, the clock and the verified token. */
export interface ReceiptBasis {
  readonly issuer: string;
  readonly tokenSha256: string;
  readonly policySha256: string;
  readonly claims: Record<string, unknown>;
  readonly nowMs: number;
}

export interface ReceiptInput extends ReceiptBasis {
  readonly cleanRoom: string;
  readonly dataset: string;
  readonly imageDigest: string;
  readonly nonce?: string;
  readonly grantedBy: GrantedBy;
  /** The dataset's party, in a consortium. */
  readonly party?: string;
}

export function receiptClaims(input: ReceiptInput): ReceiptClaims {
  const { container, swversion } = tokenFacts(input.claims);
  return {
    ...receiptHead(input),
    clean_room: input.cleanRoom,
    dataset: input.dataset,
    image_digest: input.imageDigest,
    ...(typeof container?.image_reference === "string" ? { image_reference: container.image_reference } : {}),
    nonce: input.nonce ?? null,
    ...tokenEvidence(input, swversion),
    approval: receiptApproval(input.grantedBy),
    ...partiesField(input.imageDigest, [{ dataset: input.dataset, grantedBy: input.grantedBy, party: input.party }]),
  };
}

function partiesField(imageDigest: string, grants: readonly DatasetGrant[]): { parties?: ReceiptParty[] } {
  const parties = receiptParties(imageDigest, grants);
  return parties ? { parties } : {};
}

/**
 * The output release receipt, written next to the released objects as `<job>/receipt.jws`.
 * Told apart from a key-release receipt by `release: true` and `job` (it has no `dataset`).
 */
export interface ReleaseReceiptClaims extends ReceiptCommonClaims {
  readonly release: true;
  readonly clean_room: string;
  readonly job: string;
  /** Every dataset the job read; the token was approved for each. */
  readonly datasets: readonly string[];
  /** Per dataset, what approved the token for it. */
  readonly approvals: readonly ({ readonly dataset: string } & ReceiptApproval)[];
  /** The released objects, sorted by name, with the hex SHA-256 the verifier checked and where each was copied. */
  readonly objects: readonly ReleasedObject[];
  /** The bucket they were copied to: the release bucket, or the provisioned dataset's stage-1 bucket. */
  readonly release_bucket: string;
  /** A provisioning release only: the dataset whose stage-1 bucket received the output. */
  readonly stage1_dataset?: string;
  /** The token's eat_nonce: hex SHA-256 of the canonical manifest {job, objects}. */
  readonly nonce: string;
  /** Consortium rooms only: every party whose datasets the job read, with its approval. */
  readonly parties?: readonly ReceiptParty[];
  /** Per charged dataset, what this release spent of its privacy budget and what remains (budget.ts). */
  readonly budget?: readonly BudgetReceiptEntry[];
}

/** One released object: its name in quarantine (under `<job>/`), its hash and its destination. */
export interface ReleasedObject {
  readonly name: string;
  readonly sha256: string;
  readonly bucket: string;
  readonly object: string;
}

export interface ReleaseReceiptInput extends ReceiptBasis {
  readonly cleanRoom: string;
  readonly job: string;
  readonly grants: readonly DatasetGrant[];
  readonly imageDigest: string;
  readonly objects: readonly { readonly name: string; readonly sha256: string }[];
  /** Decided by the verifier (destination.ts). */
  readonly destination: ReleaseDestination;
  readonly nonce: string;
}

export function releaseReceiptClaims(input: ReleaseReceiptInput): ReleaseReceiptClaims {
  const { container, swversion } = tokenFacts(input.claims);
  return {
    ...receiptHead(input),
    release: true,
    clean_room: input.cleanRoom,
    job: input.job,
    datasets: input.grants.map((g) => g.dataset),
    approvals: input.grants.map((g) => ({ dataset: g.dataset, ...receiptApproval(g.grantedBy) })),
    image_digest: input.imageDigest,
    ...(typeof container?.image_reference === "string" ? { image_reference: container.image_reference } : {}),
    objects: input.objects.map((o) => ({ name: o.name, sha256: o.sha256, bucket: input.destination.bucket, object: `${input.destination.prefix}${o.name}` })),
    release_bucket: input.destination.bucket,
    ...(input.destination.stage1Dataset !== undefined ? { stage1_dataset: input.destination.stage1Dataset } : {}),
    nonce: input.nonce,
    ...tokenEvidence(input, swversion),
    ...partiesField(input.imageDigest, input.grants),
  };
}

/** The claims both receipt kinds open with (key order is the receipt's JSON order). */
function receiptHead(input: ReceiptBasis): Pick<ReceiptCommonClaims, "iss" | "sub" | "jti" | "iat"> {
  const c = input.claims;
  return {
    iss: input.issuer,
    ...(typeof c.sub === "string" ? { sub: c.sub } : {}),
    jti: randomUUID(),
    iat: Math.floor(input.nowMs / 1000),
  };
}

/** The token and policy evidence both receipt kinds carry, in this order. */
function tokenEvidence(
  input: ReceiptBasis,
  swversion: string[] | undefined
): Pick<ReceiptCommonClaims, "token_sha256" | "token_iat" | "token_exp" | "policy_sha256" | "hwmodel" | "swversion"> {
  const c = input.claims;
  return {
    token_sha256: input.tokenSha256,
    token_iat: c.iat as number,
    token_exp: c.exp as number,
    policy_sha256: input.policySha256,
    ...(typeof c.hwmodel === "string" ? { hwmodel: c.hwmodel } : {}),
    ...(swversion ? { swversion } : {}),
  };
}

function tokenFacts(c: Record<string, unknown>): { container?: Record<string, unknown>; swversion?: string[] } {
  const submods = c.submods;
  const container =
    submods !== null && typeof submods === "object" ? ((submods as { container?: unknown }).container as Record<string, unknown> | undefined) : undefined;
  const swversion = Array.isArray(c.swversion) && c.swversion.every((v) => typeof v === "string") ? (c.swversion as string[]) : undefined;
  return { container: container !== null && typeof container === "object" ? container : undefined, swversion };
}

/** The encoded protected header, constant per signer. */
const encodedHeaders = new WeakMap<ReceiptSigner, string>();

/** Compact JWS with the signer's kid; the signer returns JOSE's raw r||s. */
export async function signReceipt(signer: ReceiptSigner, claims: ReceiptClaims | ReleaseReceiptClaims): Promise<string> {
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
