/** A consortium room's data-owning parties (docs/consortium-contract.md). */
import type { Approval } from "./approvals";
import type { DatasetInput } from "./datasets";

/** An EC P-256 public key as a JWK: what a party signs its approvals with. */
export interface PartyApprovalsJwk {
  readonly kty: "EC";
  readonly crv: "P-256";
  readonly x: string;
  readonly y: string;
}

/** A data-owning organisation of a consortium room. */
export interface PartyPolicy {
  /** `^[a-z][a-z0-9-]{0,11}$`: it goes into pool ids and stack names. */
  readonly name: string;
  /** The party's own project: its pool, keys and buckets live there. */
  readonly project: string;
  /**
   * The party's project NUMBER (its stack's `project_number` output): the operator's job VMs name it
   * in the STS audience of the party's pool, and the operator cannot look it up. Required for the
   * operator's workloads stack. @default - unknown: the job service cannot be compiled
   */
  readonly projectNumber?: string;
  /** Pins the key the party signs its approvals with. @default - approvals unsigned */
  readonly approvalsKey?: { readonly jwk: PartyApprovalsJwk };
  /** Compact JWS over the party's approvals (`manatee policy sign`); required with `approvalsKey`. */
  readonly approvalsSignature?: string;
}

/** A consortium party as a TypeScript caller (or a room file's `parties` section) writes it. */
export interface PartyInput {
  readonly project: string;
  /** The party's project number, a quoted string of digits (its stack's `project_number` output). @default - none */
  readonly projectNumber?: string;
  readonly datasets: Record<string, DatasetInput>;
  /** Approvals of this party; each names only this party's datasets. @default [] */
  readonly approvals?: readonly Omit<Approval, "party">[];
  /** @default - approvals unsigned */
  readonly approvalsKey?: { readonly jwk: PartyApprovalsJwk };
  /** Compact JWS (`manatee policy sign`); required with `approvalsKey`. @default - none */
  readonly approvalsSignature?: string;
}
