/**
 * `<room>-party-<party>`: one consortium party's Google resources, in the party's own project,
 * with its own provider and state. It names the operator only by plain values derived from the
 * room file (operatorFacts): a party plans and applies it without access to the operator's state.
 */
import { FastResolveStack } from "../lib/constructs/fast-resolve-stack";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { Construct } from "constructs";
import { configureStateBackend } from "./backend";
import { PartyDataPlane, PartyDataPlaneProps } from "../lib/constructs/data-plane/party-data-plane";
import { partiesOf } from "../lib/policy/consortium";
import { InvalidPropsError } from "../lib/errors";

export interface CleanRoomPartyStackProps extends Omit<PartyDataPlaneProps, "provider"> {}

/** The name of a party's stack: `<room>-party-<party>`. */
export function partyStackName(room: string, party: string): string {
  return `${room}-party-${party}`;
}

export class CleanRoomPartyStack extends FastResolveStack {
  public readonly dataPlane: PartyDataPlane;

  constructor(scope: Construct, id: string, props: CleanRoomPartyStackProps) {
    super(scope, id);
    const { policy } = props;
    const party = partiesOf(policy).find((p) => p.name === props.party);
    if (!party) {
      throw new InvalidPropsError(`party "${props.party}" is not a party of room ${policy.name}.`, {
        constructPath: this.node.path,
        property: "party",
      });
    }
    new GoogleProvider(this, "google", {
      project: party.project,
      // The room's region: the residency set binds every party's data too.
      region: policy.region,
      defaultLabels: { "managed-by": "manatee-cdktf", "clean-room": policy.name, party: party.name },
    });
    configureStateBackend(this, policy, `party-${party.name}`);
    this.dataPlane = new PartyDataPlane(this, "party", props);
  }
}
