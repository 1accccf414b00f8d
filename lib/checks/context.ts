/**
 * The room's facts for the rules, from a policy and/or explicit options. Options win
 * over the policy; whatever stays unknown disables the checks that need it (and only
 * those), except debug, which is forbidden unless someone says otherwise.
 */
import { CleanRoomPolicy } from "../policy/model";
import { CheckContext } from "./model";
import { InvalidPropsError } from "../errors";

export interface CheckContextProps {
  /**
   * The clean-room policy: enables the policy-aware checks (approved digests per
   * dataset, data owners, retention per dataset, approvals' expiry).
   * @default - no policy: those checks use labels only, or are skipped
   */
  readonly policy?: CleanRoomPolicy;
  /**
   * Regions every data location must lie in.
   * @default - `policy.residency`; residency is not checked without either
   */
  readonly residency?: readonly string[];
  /**
   * Whether debug Confidential Space images (and attribute conditions without the
   * debug clauses) are allowed.
   * @default - `policy.tee.allowDebug`, else false
   */
  readonly allowDebug?: boolean;
  /**
   * The room's project id, to recognise its service accounts by email.
   * @default - `policy.project`
   */
  readonly project?: string;
  /**
   * The instant expiries are judged against.
   * @default - the time of the check
   */
  readonly now?: Date;
}

export function checkContext(props: CheckContextProps = {}): CheckContext {
  if (props.residency !== undefined && (props.residency.length === 0 || props.residency.some((r) => typeof r !== "string" || r.trim() === ""))) {
    throw new InvalidPropsError(`"residency" must list at least one region (e.g. ["us-central1"]); got ${JSON.stringify(props.residency)}. Omit it to use policy.residency.`);
  }
  if (props.now !== undefined && Number.isNaN(props.now.getTime())) {
    throw new InvalidPropsError(`"now" is an invalid Date. Pass a valid Date, or omit it to use the current time.`);
  }
  return {
    policy: props.policy,
    residency: props.residency ?? props.policy?.residency,
    allowDebug: props.allowDebug ?? props.policy?.tee.allowDebug ?? false,
    project: props.project ?? props.policy?.project,
    now: props.now ?? new Date(),
  };
}
