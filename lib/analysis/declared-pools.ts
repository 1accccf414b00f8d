/**
 * Which workload identity pools a room declares. A principal set counts as attested only from
 * one of them: a pool anyone else created admits whatever its own provider accepts.
 */
import type { RoomFacts } from "./iam";
import { Principal } from "./principals";
import { ResourceIndex } from "./resource-index";
import { readString } from "./values";
import { dataPlaneNames } from "../policy/names";
import { partiesOf } from "../policy/consortium";
import { partyPoolId } from "../policy/party-names";

/** With the policy: its data pool and job pools. Without: the pools this stack creates (none known = not checked). */
function declaredPools(index: ResourceIndex, context: RoomFacts): ReadonlySet<string> | undefined {
  const policy = context.policy;
  if (policy) {
    const names = dataPlaneNames(policy);
    // A consortium party's datasets are guarded by its own pool (and per-job pools named as the room's).
    return new Set([names.poolId, ...policy.datasets.map((d) => names.jobPoolId(d.name)), ...partiesOf(policy).map((p) => partyPoolId(policy.name, p.name))]);
  }
  const ids = index.ofType("google_iam_workload_identity_pool").map((p) => readString(p.config.workload_identity_pool_id));
  if (ids.length === 0 || ids.some((id) => id.state !== "known")) return undefined;
  return new Set(ids.map((id) => (id.state === "known" ? id.value : "")));
}

/** Why an attested-looking principal set is not the room's, or undefined when it is (or cannot be told). */
export function undeclaredPool(member: Principal, index: ResourceIndex, context: RoomFacts): string | undefined {
  if (member.pool === undefined) return undefined;
  // Once per stack and room (a stack may hold two rooms): every principal of every grant asks.
  const declared = index.cached(`declared-pools:${context.policy?.name ?? ""}`, () => declaredPools(index, context));
  if (!declared || declared.has(member.pool)) return undefined;
  return `its pool ${member.pool} is not one the room declares (${[...declared].join(", ")}), so its provider, not the policy, decides who gets in`;
}
