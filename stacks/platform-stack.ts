/** `<room>-platform`: every Google resource of the clean room. */
import { FastResolveStack } from "../lib/constructs/fast-resolve-stack";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { Construct } from "constructs";
import { configureStateBackend } from "./backend";
import { CleanRoom, CleanRoomProps } from "../lib/constructs/clean-room";

export interface CleanRoomPlatformStackProps extends Omit<CleanRoomProps, "provider"> {}

export class CleanRoomPlatformStack extends FastResolveStack {
  public readonly room: CleanRoom;

  constructor(scope: Construct, id: string, props: CleanRoomPlatformStackProps) {
    super(scope, id);
    const { policy } = props;
    new GoogleProvider(this, "google", {
      project: policy.project,
      region: policy.region,
      zone: policy.zone,
      defaultLabels: { "managed-by": "manatee-cdktf", "clean-room": policy.name },
    });
    configureStateBackend(this, policy, "platform");
    this.room = new CleanRoom(this, "room", props);
  }
}
