/**
 * Consortium rooms (docs/consortium-contract.md) as a synthesized stack shows them: which party's
 * stack an index is, which project a resource or an IAM target lies in, and which room project a
 * member belongs to. Pure reads of the index and the policy; unknown stays unknown.
 */
import { partiesOf } from "../policy/consortium";
import { CleanRoomPolicy, PartyPolicy } from "../policy/model";
import { partyPoolId, partyStackName } from "../policy/party-names";
import { iamDeclaration } from "./iam";
import { classifyMember } from "./principals";
import { ResourceIndex, TfResource, wholeReference } from "./resource-index";
import { readString } from "./values";

export { partyPoolId, partyStackName };

/**
 * The party whose stack `index` is: by stack name, else (a stack named otherwise, or not at all)
 * by its provider's project. Undefined for the operator's stacks and single-project rooms.
 */
export function stackParty(index: ResourceIndex, policy: CleanRoomPolicy): PartyPolicy | undefined {
  const parties = partiesOf(policy);
  const { name, project } = index.stack;
  const byName = parties.find((p) => name === partyStackName(policy.name, p.name));
  if (byName) return byName;
  const operatorName = name !== undefined && [`${policy.name}-platform`, `${policy.name}-workloads`].includes(name);
  return operatorName ? undefined : parties.find((p) => project === p.project);
}

function bareProject(value: string): string {
  return value.replace(/^projects\//, "");
}

/** The project a resource lies in: its `project` (literal or referenced), its key ring's, else the stack's provider's. */
export function projectOfResource(resource: TfResource, index: ResourceIndex, depth = 0): string | undefined {
  const raw = resource.config.project ?? resource.config.project_id;
  const literal = readString(raw);
  if (literal.state === "known") return bareProject(literal.value);
  const ref = depth < 4 ? index.target(raw) : undefined;
  if (ref) return projectOfResource(ref.resource, index, depth + 1);
  if (resource.type === "google_kms_crypto_key") {
    const ring = index.target(resource.config.key_ring);
    if (ring && depth < 4) return projectOfResource(ring.resource, index, depth + 1);
    const id = readString(resource.config.key_ring);
    if (id.state === "known") return /^projects\/([^/]+)\//.exec(id.value)?.[1];
  }
  return raw === undefined ? index.stack.project : undefined;
}

/** Where an IAM resource's target lies: a project id, or for a literal bucket, its name (bucket names are global). */
export interface IamTargetPlace {
  readonly project?: string;
  readonly bucket?: string;
}

/** The project (or bucket name) an IAM resource grants on, when the config says. */
export function iamTargetPlace(resource: TfResource, index: ResourceIndex): IamTargetPlace {
  const decl = iamDeclaration(resource, index);
  const target = decl?.target;
  if (decl && decl.targetKind !== "other") {
    const ref = index.target(target);
    if (ref) return { project: projectOfResource(ref.resource, index) };
    const literal = readString(target);
    if (literal.state === "known") {
      const v = literal.value;
      if (decl.targetKind === "project") return { project: bareProject(v) };
      if (decl.targetKind === "bucket") return { bucket: v.replace(/^b\//, "") };
      const project = /^projects\/([^/]+)\//.exec(v)?.[1] ?? /@([^.@]+)\.iam\.gserviceaccount\.com$/.exec(v)?.[1];
      if (project) return { project };
    }
  }
  // Other IAM resources (repositories, services, …) name their project; a reference names it through its target.
  const project = readString(resource.config.project);
  if (project.state === "known") return { project: bareProject(project.value) };
  const ref = index.target(resource.config.project);
  return ref ? { project: projectOfResource(ref.resource, index) } : {};
}

/** Whether an IAM target place lies in `project` (a bucket by the contract's `<project>-` name prefix). */
export function placeInProject(place: IamTargetPlace, project: string): boolean {
  return place.project === project || (place.bucket !== undefined && place.bucket.startsWith(`${project}-`));
}

/** Which room project, and through which kind of principal, a member belongs to; `unknown` when it cannot be told. */
export type MemberOrigin =
  | { readonly kind: "pool"; readonly pool: string; readonly project?: string; readonly unresolvedProject?: string }
  | { readonly kind: "project"; readonly project: string; readonly via: string }
  | { readonly kind: "unknown" }
  | { readonly kind: "other" };

const FEDERATED = /^(?:principalSet|principal):\/\/iam\.googleapis\.com\/projects\/([^/]+)\/locations\/global\/workloadIdentityPools\/([^/]+)(?:\/|$)/;

/**
 * Where a member comes from: a workload identity pool (its id, and its project when the member names
 * it through a `google_project` of this stack), a project (its service accounts, its GKE workload
 * identities, its convenience members), or elsewhere (people, Google's service agents).
 */
export function memberOrigin(member: string, index: ResourceIndex, facts: { project?: string; policy?: CleanRoomPolicy }): MemberOrigin {
  const fed = FEDERATED.exec(member);
  if (fed) {
    const [, projectSegment, pool] = fed;
    if (pool.endsWith(".svc.id.goog")) return { kind: "project", project: pool.slice(0, -".svc.id.goog".length), via: "GKE workload identity" };
    const inner = /^\$\{([^{}]*)\}$/.exec(projectSegment)?.[1];
    const ref = inner === undefined ? undefined : wholeReference(`\${${inner}}`);
    const source = ref && index.get(ref.address);
    if (source && /^google_project$/.test(source.type)) return { kind: "pool", pool, project: projectOfResource(source, index) };
    return { kind: "pool", pool, unresolvedProject: projectSegment };
  }
  const p = classifyMember(member);
  if (p.kind === "unknown") return { kind: "unknown" };
  const gke = /^serviceAccount:([^.[]+)\.svc\.id\.goog\[/.exec(member);
  if (gke) return { kind: "project", project: gke[1], via: "GKE workload identity" };
  if (p.kind === "serviceAccount") {
    const bare = (p.account ?? "").replace(/^serviceAccount:/, "");
    const ref = wholeReference(bare);
    const sa = ref && index.get(ref.address);
    if (ref && sa?.type !== "google_service_account") return { kind: "unknown" };
    const email = sa ? undefined : bare;
    const project = sa ? projectOfResource(sa, index) ?? facts.project : /@([a-z][-a-z0-9]*)\.iam\.gserviceaccount\.com$/.exec(email ?? "")?.[1];
    return project ? { kind: "project", project, via: "service account" } : { kind: "other" };
  }
  const convenience = /^(projectOwner|projectEditor|projectViewer):(.+)$/.exec(member);
  if (convenience) return { kind: "project", project: convenience[2], via: `${convenience[1]} convenience member` };
  return { kind: "other" };
}
