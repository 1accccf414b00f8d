/**
 * Consortium rooms keep each party's power in its own project (docs/consortium-contract.md):
 * - MCR-PTY1: in a party's stack, no principal of the operator's project or another party's (its
 *   service accounts, GKE workload identities, convenience members) and no principal of a pool
 *   other than the party's own holds anything on the party's keys, buckets, service accounts or
 *   project. Only the party's pool's principal sets (and people the party names) do.
 * - MCR-PTY2: no stack but a party's own declares IAM on a resource in that party's project: the
 *   operator's stacks (and other parties') hold no binding on it.
 * Both need a policy with `parties`; which stack is a party's comes from its name or its provider.
 */
import { datasetsOfParty, isConsortium, partiesOf } from "../../policy/consortium";
import { CleanRoomPolicy, PartyPolicy } from "../../policy/model";
import { bucketsReached, IamBinding, iamDeclaration, IamTargetKind, isIamResourceType } from "../../analysis/iam";
import { componentOf } from "../../analysis/values";
import { COMPONENT } from "../../internal/common";
import { operatorFacts, partyDataPlaneNames } from "../../policy/party-names";
import { iamTargetPlace, memberOrigin, partyPoolId, placeInProject, stackParty } from "../../analysis/parties";
import { ResourceIndex } from "../../analysis/resource-index";
import { Rule, RuleResult } from "../model";

/** What guards a party's data: its keys, buckets, reader accounts, and its project (which reaches them all). */
const GUARDING: readonly IamTargetKind[] = ["crypto_key", "key_ring", "bucket", "service_account", "project"];

/** Reading stage-1 objects and bucket metadata: what ManaTEE's SDK needs of published stage-1 data. */
const STAGE1_READ = new Set(["storage.buckets.get", "storage.objects.get", "storage.objects.list"]);
const STAGE1_READ_ROLES = new Set(["roles/storage.objectViewer"]);

/**
 * Stage-1 data is what a party publishes to the room's researchers (weakened: sampled or
 * DP-synthetic), and the researchers' notebooks run as the operator's JupyterLab account. So that
 * account, and only it, may read the party's stage-1 buckets and the project's metadata (its
 * number): nothing on keys, stage-2 buckets or reader accounts.
 */
function publishedStage1Read(member: string, b: IamBinding, policy: CleanRoomPolicy, index: ResourceIndex): boolean {
  if (member !== `serviceAccount:${operatorFacts(policy).jupyterServiceAccountEmail}`) return false;
  const readOnly = (b.role !== undefined && STAGE1_READ_ROLES.has(b.role)) || (b.permissions !== undefined && b.permissions.every((x) => STAGE1_READ.has(x)));
  if (b.targetKind === "bucket") {
    const reach = bucketsReached(b, index, { policy });
    return readOnly && !reach.unresolved && reach.resources.length > 0 && reach.resources.every((r) => componentOf(r) === COMPONENT.stage1Bucket);
  }
  return b.targetKind === "project" && b.permissions !== undefined && b.permissions.every((x) => x === "resourcemanager.projects.get");
}

/**
 * The party project's own Cloud Storage service agent (a `google_storage_project_service_account`
 * data source of the party's project): Google's agent encrypting the party's buckets with its key.
 */
function ownStorageAgent(member: string, party: PartyPolicy, index: ResourceIndex): boolean {
  const target = index.target(member);
  if (!target || target.resource.type !== "google_storage_project_service_account" || target.attribute !== "member") return false;
  const project = target.resource.config.project;
  return project === undefined ? index.stack.project === party.project : project === party.project;
}

/** Why `member` may not hold anything on `party`'s data, or undefined when it may. */
function foreignMember(member: string, party: PartyPolicy, policy: CleanRoomPolicy, index: ResourceIndex): RuleResult | undefined {
  const own = partyPoolId(policy.name, party.name);
  // The party's per-job pools (per-job approval of its datasets, in its project) are its own too.
  const names = partyDataPlaneNames(policy, party.name);
  const ownPools = new Set([own, ...datasetsOfParty(policy, party.name).map((d) => names.jobPoolId(d.name))]);
  const origin = memberOrigin(member, index, { project: party.project, policy });
  const fix = `Grant only principal sets of the party's own pool ${own} (principalSet://…/projects/<${party.project} number>/…/workloadIdentityPools/${own}/attribute.image_digest/<digest>).`;
  switch (origin.kind) {
    case "pool":
      if (!ownPools.has(origin.pool)) {
        return { message: `${member} is a principal of pool ${origin.pool}, not of the party's own pool ${own}: whoever controls that pool's provider (the operator, for a pool in its project) decides who gets in. ${fix}` };
      }
      if (origin.project !== undefined && origin.project !== party.project) {
        return { message: `${member} names pool ${origin.pool} in project ${origin.project}, not in the party's project ${party.project}: a pool of that id elsewhere admits whatever its own provider accepts. ${fix}` };
      }
      if (origin.project === undefined) {
        return { level: "warning", message: `Cannot tell which project's pool ${member} names (project ${origin.unresolvedProject ?? "unknown"}). Name it through a google_project data source of ${party.project}, so the check can see it is the party's.` };
      }
      return undefined;
    case "project": {
      const who = origin.project === policy.project ? "the operator" : partiesOf(policy).find((p) => p.project === origin.project && p !== party)?.name;
      if (!who) return undefined;
      return { message: `${member} is a ${origin.via} of ${who === "the operator" ? "the operator's" : `party ${who}'s`} project ${origin.project}: its administrators could use it to reach party ${party.name}'s data without attestation. ${fix}` };
    }
    case "unknown":
      if (ownStorageAgent(member, party, index)) return undefined;
      return { level: "warning", message: `Cannot tell whose principal ${member} is (an expression). Use a literal member or a reference to a service account of this stack.` };
    default:
      return undefined;
  }
}

export const partyStackMembers: Rule = {
  id: "MCR-PTY1",
  level: "error",
  title: "A party's stack grants nothing on its data to the operator or another party; only its own pool's principal sets",
  resourceTypes: isIamResourceType,
  check(resource, index, context) {
    const policy = context.policy;
    if (!policy || !isConsortium(policy)) return [];
    const party = stackParty(index, policy);
    const decl = iamDeclaration(resource, index);
    if (!party || !decl || !GUARDING.includes(decl.targetKind)) return [];
    const place = iamTargetPlace(resource, index);
    // A grant on another project is MCR-PTY2's (or not the room's) business.
    if (place.project !== undefined && place.project !== party.project) return [];
    if (decl.opaque) return [{ level: "warning", message: `Cannot read who ${resource.address} grants (${decl.opaque}), so whether the operator can reach party ${party.name}'s data was NOT checked.` }];
    const seen = new Set<string>();
    return decl.bindings.flatMap((b) =>
      b.members.flatMap((m) => {
        if (seen.has(m.member)) return [];
        seen.add(m.member);
        if (publishedStage1Read(m.member, b, policy, index)) return [];
        const r = foreignMember(m.member, party, policy, index);
        return r ? [{ ...r, message: `${b.role ?? "An unresolved role"}: ${r.message}` }] : [];
      }),
    );
  },
};

export const partyResourcesOwnStack: Rule = {
  id: "MCR-PTY2",
  level: "error",
  title: "Only a party's own stack declares IAM on resources in its project (none in the operator's stacks)",
  resourceTypes: isIamResourceType,
  check(resource, index, context) {
    const policy = context.policy;
    if (!policy || !isConsortium(policy)) return [];
    const own = stackParty(index, policy);
    const place = iamTargetPlace(resource, index);
    return partiesOf(policy)
      .filter((p) => p !== own && placeInProject(place, p.project))
      .map((p) => ({
        message:
          `${resource.address} declares IAM on ${place.bucket !== undefined ? `bucket ${place.bucket}` : "a resource"} in party ${p.name}'s project ${p.project}, ` +
          `from ${own ? `party ${own.name}'s stack` : "the operator's stack"}${index.stack.name ? ` (${index.stack.name})` : ""}: whoever applies this stack would hold power over ${p.name}'s data. ` +
          `Declare grants on ${p.name}'s resources in its own stack only.`,
      }));
  },
};
