/**
 * Names of a consortium's party resources and the operator facts a party stack needs
 * (docs/consortium-contract.md): plain values derived from the room file alone, never
 * cross-stack references, so a party can plan its stack without the operator's state.
 */
import { InvalidInputError } from "../errors";
import { partiesOf, partyOf } from "./consortium";
import { CleanRoomPolicy, PartyPolicy } from "./model";
import { dataPlaneNames, manateeContract, platformNames, resourceName } from "./names";

/** The party named `party`; throws naming the room's parties when there is none. */
export function requireParty(policy: Pick<CleanRoomPolicy, "name" | "parties">, party: string): PartyPolicy {
  const found = partiesOf(policy).find((p) => p.name === party);
  if (found) return found;
  const known = partiesOf(policy).map((p) => p.name);
  throw new InvalidInputError(
    `room "${policy.name}" has no party "${party}"` + (known.length ? `; its parties are ${known.join(", ")}.` : ": it is a single-project room (no parties)."),
    { fix: known.length ? `Name one of ${known.join(", ")}.` : "Declare the party under parties in the room file." },
  );
}

/**
 * A party's data-plane names: its own pool (`<room>-<party>`, fitted to Google's 4-32 characters)
 * and provider, and the dataset keys, buckets and reader accounts named as the room's own
 * (dataPlaneNames) but in the party's project, which also prefixes the bucket names.
 */
export function partyDataPlaneNames(policy: Pick<CleanRoomPolicy, "name" | "parties">, party: string) {
  const p = requireParty(policy, party);
  const names = dataPlaneNames({ name: policy.name, project: p.project });
  return {
    ...names,
    /** The project every resource below lives in. */
    project: p.project,
    poolId: partyPoolId(policy.name, p.name),
    providerId: manateeContract(policy.name, p.project).wifProviderId,
  };
}

/** A party's data pool id: `<room>-<party>`, fitted to Google's 4-32 characters (names the pool in its principal sets). */
export function partyPoolId(room: string, party: string): string {
  return resourceName("workloadIdentityPoolId", room, party);
}

/** A party's stack name: `<room>-party-<party>`. */
export function partyStackName(room: string, party: string): string {
  return `${room}-party-${party}`;
}

/** The data-plane names of the project that holds `dataset`: its party's, or the room's own. */
export function dataPlaneNamesOf(policy: Pick<CleanRoomPolicy, "name" | "project" | "parties" | "datasets">, dataset: string) {
  const party = partyOf(policy, dataset);
  return party ? partyDataPlaneNames(policy, party.name) : { ...dataPlaneNames(policy), project: policy.project };
}

/** What a party stack needs to know of the operator: plain strings from the room file. */
export interface OperatorFacts {
  /** The room's name. */
  readonly room: string;
  /** The operator's project: its TEEs run there. */
  readonly project: string;
  /** The service account every Confidential Space VM of the room runs as. */
  readonly teeServiceAccountEmail: string;
  /** The attestation verifier's service account. */
  readonly verifierServiceAccountEmail: string;
  /** The job service's account: reads a party's approvals (signature repositories) before launch. */
  readonly jobServiceAccountEmail: string;
  /** JupyterLab's account: reads the stage-1 data a party publishes to the room's researchers. */
  readonly jupyterServiceAccountEmail: string;
}

export function operatorFacts(policy: Pick<CleanRoomPolicy, "name" | "project">): OperatorFacts {
  const platform = platformNames(policy);
  return {
    room: policy.name,
    project: policy.project,
    teeServiceAccountEmail: platform.teeSaEmail,
    verifierServiceAccountEmail: platform.verifierSaEmail,
    jobServiceAccountEmail: platform.jobServiceSaEmail,
    jupyterServiceAccountEmail: platform.jupyterSaEmail,
  };
}
