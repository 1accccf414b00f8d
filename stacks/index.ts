/**
 * The ready stacks: `<room>-platform` (Google) and `<room>-workloads` (Kubernetes + Helm),
 * both rendered from one clean-room policy, with the guardrails on by default; in a consortium,
 * also `<room>-party-<party>` for each data-owning party (its own project, provider and state).
 */
import { Aspects } from "cdktf";
import { Construct } from "constructs";
import { CleanRoomChecks } from "../lib/checks";
import { CleanRoomPolicy } from "../lib/policy/model";
import { partiesOf } from "../lib/policy/consortium";
import { CleanRoomPartyStack, CleanRoomPartyStackProps, partyStackName } from "./party-stack";
import { CleanRoomPlatformStack, CleanRoomPlatformStackProps } from "./platform-stack";
import { CleanRoomWorkloadsStack, CleanRoomWorkloadsStackProps } from "./workloads-stack";

export { CleanRoomPartyStack, CleanRoomPlatformStack, CleanRoomWorkloadsStack, partyStackName };
export type { CleanRoomPartyStackProps, CleanRoomPlatformStackProps, CleanRoomWorkloadsStackProps };

export interface CleanRoomStacksOptions {
  /** Platform settings beyond the policy. @default CleanRoom defaults */
  readonly platform?: Omit<CleanRoomPlatformStackProps, "policy">;
  /** JupyterHub and job-service settings. */
  readonly workloads: Omit<CleanRoomWorkloadsStackProps, "room">;
  /**
   * Settings of every party's stack in a consortium (`policy.parties`).
   * @default PartyDataPlane defaults
   */
  readonly parties?: Omit<CleanRoomPartyStackProps, "policy" | "party">;
  /**
   * Run the clean-room guardrails (lib/checks) over both stacks at synth.
   * @default true
   */
  readonly checks?: boolean;
}

export interface CleanRoomStacks {
  readonly platform: CleanRoomPlatformStack;
  readonly workloads: CleanRoomWorkloadsStack;
  /** One stack per consortium party, by party name; empty for a single-project room. */
  readonly parties: Readonly<Record<string, CleanRoomPartyStack>>;
}

/**
 * The stacks of one clean room: `<name>-platform`, `<name>-workloads` and, in a consortium,
 * `<name>-party-<party>` per party. No party stack references another stack.
 */
export function createCleanRoomStacks(scope: Construct, policy: CleanRoomPolicy, options: CleanRoomStacksOptions): CleanRoomStacks {
  const platform = new CleanRoomPlatformStack(scope, `${policy.name}-platform`, { ...options.platform, policy });
  const workloads = new CleanRoomWorkloadsStack(scope, `${policy.name}-workloads`, { ...options.workloads, room: platform.room });
  const parties: Record<string, CleanRoomPartyStack> = {};
  for (const party of partiesOf(policy)) {
    parties[party.name] = new CleanRoomPartyStack(scope, partyStackName(policy.name, party.name), {
      ...options.parties,
      policy,
      party: party.name,
    });
  }
  if (options.checks ?? true) {
    for (const stack of [platform, workloads, ...Object.values(parties)]) Aspects.of(stack).add(new CleanRoomChecks({ policy }));
  }
  return { platform, workloads, parties };
}
