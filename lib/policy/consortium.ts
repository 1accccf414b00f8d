/**
 * Consortium rooms (docs/consortium-contract.md): which party holds which dataset and gave which
 * approval, and in which project its resources live. Pure accessors over the normalized policy.
 */
import { Approval, CleanRoomPolicy, DatasetPolicy, PartyPolicy } from "./model";

/** The room's parties; none for a single-project room. */
export function partiesOf(policy: Pick<CleanRoomPolicy, "parties">): readonly PartyPolicy[] {
  return policy.parties ?? [];
}

/** True when the room is shared by data-owning parties, each in its own project. */
export function isConsortium(policy: Pick<CleanRoomPolicy, "parties">): boolean {
  return partiesOf(policy).length > 0;
}

/** The party holding `dataset`, or undefined when the dataset is in the room's own project. */
export function partyOf(policy: Pick<CleanRoomPolicy, "parties" | "datasets">, dataset: string): PartyPolicy | undefined {
  const name = policy.datasets.find((d) => d.name === dataset)?.party;
  return name === undefined ? undefined : partiesOf(policy).find((p) => p.name === name);
}

/** The project whose keys and buckets hold `dataset`'s data. */
export function projectOfDataset(policy: Pick<CleanRoomPolicy, "parties" | "datasets" | "project">, dataset: string): string {
  return partyOf(policy, dataset)?.project ?? policy.project;
}

/** The datasets a party holds (the room's own datasets for `undefined`). */
export function datasetsOfParty(policy: Pick<CleanRoomPolicy, "datasets">, party: string | undefined): readonly DatasetPolicy[] {
  return policy.datasets.filter((d) => d.party === party);
}

/** The approvals a party gave (the room's own approvals for `undefined`). */
export function approvalsOfParty(policy: Pick<CleanRoomPolicy, "approvals">, party: string | undefined): readonly Approval[] {
  return policy.approvals.filter((a) => a.party === party);
}
