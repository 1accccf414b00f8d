/**
 * Signed approvals of a consortium (docs/consortium-contract.md). A party that pins an
 * `approvalsKey` speaks for its approvals only through `approvalsJws`: an ES256 JWS (typ
 * manatee-approvals+jws) whose payload is the canonical JSON of `{room, party, approvals}`.
 * Only approvals whose canonical JSON is in that verified payload count, so whoever writes
 * the policy document (the operator) cannot add or widen an approval the party did not sign.
 */
import { compactVerify, importJWK } from "jose";
import { VerifierApproval, VerifierParty, VerifierPolicyDocument, canonicalJson, errorMessage } from "./policy";

export const APPROVALS_TYP = "manatee-approvals+jws";
const PAYLOAD_FIELDS = ["approvals", "party", "room"];
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** What a party's signature makes of its approvals. */
export type PartySignature =
  /** The party pins no key: its approvals count as written in the document. */
  | { readonly state: "unpinned" }
  /** Verified: the canonical JSON of every approval the party signed. */
  | { readonly state: "signed"; readonly approvals: ReadonlySet<string> }
  /** Missing, invalid, or for another room or party: none of its approvals count. */
  | { readonly state: "void"; readonly why: string };

/** Each party's signature state, by party name. Empty for a single-project room. */
export type PartySignatures = ReadonlyMap<string, PartySignature>;

/** Verify every party's approvals signature (once, at policy load). Never rejects: a failure voids. */
export async function verifyPartySignatures(document: VerifierPolicyDocument): Promise<PartySignatures> {
  const parties = document.parties ?? [];
  const states = await Promise.all(parties.map((p) => verifyParty(document.cleanRoom, p)));
  return new Map(parties.map((p, i) => [p.name, states[i]]));
}

async function verifyParty(room: string, party: VerifierParty): Promise<PartySignature> {
  if (party.approvalsKey === undefined) return { state: "unpinned" };
  const invalid = (why: string): PartySignature => ({ state: "void", why });
  if (party.approvalsJws === undefined) return invalid("the policy carries no approvalsJws");
  let text: string;
  try {
    const key = await importJWK({ ...party.approvalsKey }, "ES256");
    const { payload, protectedHeader } = await compactVerify(party.approvalsJws, key, { algorithms: ["ES256"] });
    // Explicit type (RFC 8725 §3.11): no other JWS by this key can pass as a set of approvals.
    if (protectedHeader.typ !== APPROVALS_TYP) return invalid(`the JWS typ is ${JSON.stringify(protectedHeader.typ ?? null)}, not ${JSON.stringify(APPROVALS_TYP)}`);
    text = UTF8.decode(payload);
  } catch (err) {
    return invalid(`approvalsJws does not verify with the pinned approvalsKey (${errorMessage(err)})`);
  }
  let signed: unknown;
  try {
    signed = JSON.parse(text);
  } catch {
    return invalid("the signed payload is not JSON");
  }
  if (signed === null || typeof signed !== "object" || Array.isArray(signed)) return invalid("the signed payload is not a JSON object");
  const fields = Object.keys(signed).sort();
  if (fields.join(",") !== PAYLOAD_FIELDS.join(",")) return invalid(`the signed payload has fields ${fields.join(", ")}, not exactly room, party, approvals`);
  if (text !== canonicalJson(signed)) return invalid("the signed payload is not canonical JSON (sorted keys, no whitespace)");
  const { room: signedRoom, party: signedParty, approvals } = signed as Record<string, unknown>;
  // A signature is bound to one room and one party: it cannot be replayed into another document.
  if (signedRoom !== room) return invalid(`it signs approvals for room ${JSON.stringify(signedRoom)}, not ${JSON.stringify(room)}`);
  if (signedParty !== party.name) return invalid(`it signs the approvals of party ${JSON.stringify(signedParty)}, not ${JSON.stringify(party.name)}`);
  if (!Array.isArray(approvals)) return invalid("the signed approvals are not an array");
  return { state: "signed", approvals: new Set(approvals.map(canonicalJson)) };
}

/** Why `approval` does not count, or undefined when it does. */
export function uncountedBecause(approval: VerifierApproval, signatures: PartySignatures): string | undefined {
  if (approval.party === undefined) return undefined;
  const signature = signatures.get(approval.party);
  // Every party of the document has a state once verified; none means "not verified", which never counts.
  if (signature === undefined) return "its approvals signature was not verified";
  if (signature.state === "void") return signature.why;
  if (signature.state === "signed" && !signature.approvals.has(canonicalJson(approval))) {
    return "this approval is not among the approvals its key signed (approvalsJws), as written in the policy";
  }
  return undefined;
}

/** The states before verification: unpinned parties count as written, pinned ones not at all. */
export function unverifiedSignatures(document: VerifierPolicyDocument): PartySignatures {
  return new Map(
    (document.parties ?? []).map((p): [string, PartySignature] => [
      p.name,
      p.approvalsKey === undefined ? { state: "unpinned" } : { state: "void", why: "its approvalsJws has not been verified" },
    ])
  );
}
