/**
 * The ready stacks: `<room>-platform` (Google) and `<room>-workloads` (Kubernetes + Helm),
 * both rendered from one clean-room policy, with the guardrails on by default.
 */
import { Aspects } from "cdktf";
import { Construct } from "constructs";
import { CleanRoomChecks } from "../lib/checks";
import { CleanRoomPolicy } from "../lib/policy/model";
import { CleanRoomPlatformStack, CleanRoomPlatformStackProps } from "./platform-stack";
import { CleanRoomWorkloadsStack, CleanRoomWorkloadsStackProps } from "./workloads-stack";

export { CleanRoomPlatformStack, CleanRoomWorkloadsStack };
export type { CleanRoomPlatformStackProps, CleanRoomWorkloadsStackProps };

export interface CleanRoomStacksOptions {
  /** Platform settings beyond the policy. @default CleanRoom defaults */
  readonly platform?: Omit<CleanRoomPlatformStackProps, "policy">;
  /** JupyterHub and job-service settings. */
  readonly workloads: Omit<CleanRoomWorkloadsStackProps, "room">;
  /**
   * Run the clean-room guardrails (lib/checks) over both stacks at synth.
   * @default true
   */
  readonly checks?: boolean;
}

export interface CleanRoomStacks {
  readonly platform: CleanRoomPlatformStack;
  readonly workloads: CleanRoomWorkloadsStack;
}

/** Both stacks of one clean room, named `<name>-platform` and `<name>-workloads`. */
export function createCleanRoomStacks(scope: Construct, policy: CleanRoomPolicy, options: CleanRoomStacksOptions): CleanRoomStacks {
  const platform = new CleanRoomPlatformStack(scope, `${policy.name}-platform`, { ...options.platform, policy });
  const workloads = new CleanRoomWorkloadsStack(scope, `${policy.name}-workloads`, { ...options.workloads, room: platform.room });
  if (options.checks ?? true) {
    Aspects.of(platform).add(new CleanRoomChecks({ policy }));
    Aspects.of(workloads).add(new CleanRoomChecks({ policy }));
  }
  return { platform, workloads };
}
