/**
 * The verifier's audit trail cannot be rewritten:
 * - MCR-AUD1: the audit bucket (`component: audit`) has a locked retention policy; until it is
 *   locked, a project owner can shorten it and delete decision records. `audit.lockRetention: false`
 *   in the policy (test rooms) makes this a warning.
 * - MCR-AUD2: a sink into the audit bucket pins the verifier's log name (`logName="projects/P/logs/L"`,
 *   a top-level clause, no OR): otherwise anyone who may write log entries (entries.write accepts
 *   any resource labels) can put forged decision records among the real ones.
 */
import { COMPONENT } from "../../internal/common";
import { Rule } from "../model";
import { ResourceIndex, TfResource } from "../../analysis/resource-index";
import { componentOf, dig, readBool, readString } from "../../analysis/values";

export const auditRetentionLocked: Rule = {
  id: "MCR-AUD1",
  level: "error",
  title: "The audit bucket's retention policy is locked",
  resourceTypes: ["google_storage_bucket"],
  check(bucket, _index, context) {
    if (componentOf(bucket) !== COMPONENT.auditBucket) return [];
    const locked = readBool(dig(bucket.config, "retention_policy.is_locked"));
    if (locked.state === "known" && locked.value) return [];
    const testRoom = context.policy?.audit?.lockRetention === false;
    return [
      {
        level: testRoom ? "warning" : locked.state === "unknown" ? "warning" : undefined,
        message: `retention_policy.is_locked is ${locked.state === "known" ? "false" : locked.state === "absent" ? "not set" : "an expression"}: a project owner can shorten the retention and delete the verifier's decision records.${testRoom ? " The policy allows it (audit.lockRetention: false, a test room)." : ""} Set retention_policy.is_locked = true (irreversible), or audit.lockRetention: false in the policy for a test room.`,
      },
    ];
  },
};

/** The audit bucket a sink writes to, when its destination names one of this stack. */
function auditDestination(sink: TfResource, index: ResourceIndex): TfResource | undefined {
  const dest = sink.config.destination;
  if (typeof dest !== "string" || !dest.startsWith("storage.googleapis.com/")) return undefined;
  const bucket = dest.slice("storage.googleapis.com/".length);
  const ref = /^\$\{(google_storage_bucket\.[^.}]+)\.name\}$/.exec(bucket);
  const target = ref ? index.get(ref[1]) : index.ofType("google_storage_bucket").find((b) => b.config.name === bucket);
  return target && componentOf(target) === COMPONENT.auditBucket ? target : undefined;
}

/** A top-level `logName="projects/<p>/logs/<name>"` clause of a filter with no OR. */
export function pinnedLogName(filter: string): string | undefined {
  if (/\bOR\b/.test(filter)) return undefined;
  const clauses = filter.split(/\s+AND\s+/).map((c) => c.trim());
  const pinned = clauses.map((c) => /^logName\s*=\s*"(projects\/[^/"]+\/logs\/[^"*]+)"$/.exec(c)?.[1]).filter((x): x is string => !!x);
  return pinned.length === 1 ? pinned[0] : undefined;
}

export const auditSinkPinned: Rule = {
  id: "MCR-AUD2",
  level: "error",
  title: "The audit sink's filter pins the verifier's log name",
  resourceTypes: ["google_logging_project_sink"],
  check(sink, index, context) {
    const bucket = auditDestination(sink, index);
    if (!bucket) return [];
    const filter = readString(sink.config.filter);
    if (filter.state === "unknown") return [{ level: "warning", message: "The sink's filter is an expression, so whether it pins the verifier's log name cannot be checked. Use a literal filter." }];
    const logName = filter.state === "known" ? pinnedLogName(filter.value) : undefined;
    const project = logName ? /^projects\/([^/]+)\//.exec(logName)![1] : undefined;
    if (logName && (!context.project || project === context.project)) return [];
    return [
      {
        message: `The sink into audit bucket ${bucket.address} has the filter ${JSON.stringify(filter.state === "known" ? filter.value : "")}, which does not pin one log name of the room's project: anyone who may write log entries can add forged decision records. Add a top-level clause logName="projects/${context.project ?? "<project>"}/logs/<the verifier's log>" (Cloud Run functions: run.googleapis.com%2Fstdout) and no OR.`,
      },
    ];
  },
};
