/**
 * Name rules of the job path that both halves check: the job VMs' name prefix (`<prefix>-<uuid>`
 * within GCE's 63 characters) and Kubernetes names. `jobInstancePrefix` is public (re-exported by
 * lib/constructs/workloads/job-service/index.ts); the rest is internal to lib/constructs/workloads/job-service/.
 */
import { Token } from "cdktf";
import { defaultJobInstancePrefix } from "../../../policy/job-service-config";
import { NAME_RULES } from "../../../policy/names";
import { InvalidPropsError } from "../../../errors";

/** VM names are `<prefix>-<uuid v4>` (36 chars): the prefix keeps them within GCE's 63. */
export const INSTANCE_PREFIX = /^[a-z][-a-z0-9]{0,25}$/;

/** `<room>-job` (room names have at most 20 characters): the job VMs' name prefix. */
export function jobInstancePrefix(roomName: string): string {
  const prefix = defaultJobInstancePrefix({ name: roomName });
  if (!INSTANCE_PREFIX.test(prefix)) {
    throw new InvalidPropsError(`job VM name prefix "${prefix}" (from the room name) must be 1-26 lowercase letters, digits or '-', starting with a letter.`);
  }
  return prefix;
}

export function requireKubernetesName(value: string | undefined, field: string): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  const rule = NAME_RULES.kubernetesName;
  if (value.length > rule.max || !rule.pattern.test(value)) {
    throw new InvalidPropsError(`${field} "${value}" is not a valid Kubernetes name (${rule.source}).`);
  }
}
