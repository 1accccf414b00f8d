/**
 * IAM as a synthesized stack declares it, for the checks and the report alike: every
 * `*_iam_member`, `*_iam_binding` and `*_iam_policy` resource normalised into role
 * bindings, and what each binding reaches (a key, the keys of a key ring, every key and
 * bucket of a project).
 */
import type { CleanRoomPolicy } from "../policy/model";
import { undeclaredPool } from "./declared-pools";
import { classifyMember, Principal } from "./principals";
import { isUnresolved, ResourceIndex, TfResource, wholeReference } from "./resource-index";
import { block, blocks, readString } from "./values";

/** What reading IAM needs to know about the room (the checks' context is one). */
export interface RoomFacts {
  /** The room's project id, to recognise its service accounts by email and project-level grants. */
  readonly project?: string;
  /** The policy, for dataset owners and approved digests. */
  readonly policy?: CleanRoomPolicy;
}

export type IamTargetKind = "crypto_key" | "key_ring" | "bucket" | "project" | "service_account" | "other";

const TARGETS: readonly { prefix: string; kind: IamTargetKind; field: string }[] = [
  { prefix: "google_kms_crypto_key_iam_", kind: "crypto_key", field: "crypto_key_id" },
  { prefix: "google_kms_key_ring_iam_", kind: "key_ring", field: "key_ring_id" },
  { prefix: "google_storage_bucket_iam_", kind: "bucket", field: "bucket" },
  { prefix: "google_project_iam_", kind: "project", field: "project" },
  { prefix: "google_service_account_iam_", kind: "service_account", field: "service_account_id" },
];

export function isIamResourceType(type: string): boolean {
  return /^google_.+_iam_(member|binding|policy)$/.test(type);
}

/** IAM on a bucket or on the whole project: what can reach a bucket's objects. */
export function isBucketOrProjectIamType(type: string): boolean {
  return isIamResourceType(type) && /^google_(storage_bucket|project)_iam_/.test(type);
}

/** One role binding as declared by an IAM resource. */
export interface IamBinding {
  /** The IAM resource that declares it (findings are reported on it). */
  readonly resource: TfResource;
  readonly targetKind: IamTargetKind;
  /** The raw value of the target field (`crypto_key_id`, `bucket`, …). */
  readonly target: unknown;
  /** The role, or undefined when it is a Terraform expression. */
  readonly role?: string;
  readonly rawRole: unknown;
  /**
   * The permissions of a custom role declared in this stack (the role is a reference to
   * its `google_*_iam_custom_role`), so rules can judge it instead of guessing.
   */
  readonly permissions?: readonly string[];
  readonly members: readonly Principal[];
  readonly condition?: { readonly expression?: string; readonly title?: string };
}

/** What an IAM resource declares; `opaque` says why its bindings cannot be read. */
export interface IamDeclaration {
  readonly targetKind: IamTargetKind;
  readonly target: unknown;
  readonly bindings: readonly IamBinding[];
  readonly opaque?: string;
}

export function iamDeclaration(resource: TfResource, index: ResourceIndex): IamDeclaration | undefined {
  if (resource.mode !== "resource" || !isIamResourceType(resource.type)) return undefined;
  return index.cached(`iam:${resource.address}`, () => readDeclaration(resource, index));
}

function readDeclaration(resource: TfResource, index: ResourceIndex): IamDeclaration {
  const t = TARGETS.find((x) => resource.type.startsWith(x.prefix));
  const targetKind = t?.kind ?? "other";
  const target = t ? resource.config[t.field] : undefined;
  const make = (rawRole: unknown, members: unknown[], condition: unknown): IamBinding => {
    const role = readString(rawRole);
    const cond = block(condition);
    return {
      resource,
      targetKind,
      target,
      rawRole,
      role: role.state === "known" ? role.value : undefined,
      permissions: customRolePermissions(rawRole, index),
      members: members.filter((m): m is string => typeof m === "string").map(classifyMember),
      condition: cond
        ? {
            expression: typeof cond.expression === "string" ? cond.expression : undefined,
            title: typeof cond.title === "string" ? cond.title : undefined,
          }
        : undefined,
    };
  };

  const c = resource.config;
  const declare = (bindings: IamBinding[], opaque?: string): IamDeclaration => ({ targetKind, target, bindings, opaque });
  if (resource.type.endsWith("_iam_member")) {
    return declare([make(c.role, [c.member], c.condition)]);
  }
  if (resource.type.endsWith("_iam_binding")) {
    if (!Array.isArray(c.members)) {
      return declare([], `its members are the expression ${JSON.stringify(c.members)}`);
    }
    return declare([make(c.role, c.members, c.condition)]);
  }
  // *_iam_policy: authoritative policy_data, a literal JSON document or a google_iam_policy data source.
  const policyData = c.policy_data;
  const source = index.target(policyData);
  if (source && source.resource.type === "google_iam_policy" && source.resource.mode === "data") {
    const bindings = blocks(source.resource.config.binding);
    if (bindings.some((b) => !Array.isArray(b.members))) {
      return declare([], `${source.resource.address} has a binding whose members are an expression`);
    }
    return declare(bindings.map((b) => make(b.role, b.members as unknown[], b.condition)));
  }
  if (typeof policyData === "string" && !isUnresolved(policyData)) {
    let doc: { bindings?: { role?: unknown; members?: unknown; condition?: unknown }[] };
    try {
      doc = JSON.parse(policyData);
    } catch {
      return declare([], "its policy_data is not valid JSON");
    }
    return declare((doc.bindings ?? []).map((b) => make(b.role, Array.isArray(b.members) ? b.members : [], b.condition)));
  }
  return declare([], `its policy_data is the expression ${JSON.stringify(policyData)}`);
}

/** Permissions of a custom role this stack declares, when `rawRole` references it with a literal list. */
function customRolePermissions(rawRole: unknown, index: ResourceIndex): readonly string[] | undefined {
  const ref = index.target(rawRole);
  if (!ref || ref.resource.mode !== "resource" || !/^google_(project|organization)_iam_custom_role$/.test(ref.resource.type)) {
    return undefined;
  }
  const permissions = ref.resource.config.permissions;
  return Array.isArray(permissions) && permissions.every((p) => typeof p === "string" && !isUnresolved(p))
    ? (permissions as string[])
    : undefined;
}

/** Permissions that reach data or keys, or their IAM: a custom role holding one is treated like a data role. */
const DATA_PERMISSION =
  /^(cloudkms\.|storage\.objects\.(get|list|getIamPolicy|setIamPolicy)$|storage\.buckets\.(setIamPolicy|update)$|storage\.managedFolders\.)/;

/** Permissions that let a principal act as, or mint credentials for, a service account. */
const IMPERSONATION_PERMISSION =
  /^iam\.(serviceAccounts\.(actAs|getAccessToken|getOpenIdToken|signBlob|signJwt|implicitDelegation|setIamPolicy)|serviceAccountKeys\.create)$/;

export function permissionsReachData(permissions: readonly string[]): boolean {
  return permissions.some((p) => DATA_PERMISSION.test(p));
}

export function permissionsImpersonate(permissions: readonly string[]): boolean {
  return permissions.some((p) => IMPERSONATION_PERMISSION.test(p));
}

/* ------------------------------------------------------------------ reach */

/** What a binding reaches among resources of one kind, and whether it might reach more. */
export interface Reach {
  readonly resources: readonly TfResource[];
  /** The target could not be resolved: it may or may not be one of ours. */
  readonly unresolved: boolean;
}

/** Where an IAM declaration applies. */
export type IamTarget = Pick<IamBinding, "targetKind" | "target">;

const NONE: Reach = { resources: [], unresolved: false };
const UNRESOLVED: Reach = { resources: [], unresolved: true };

/**
 * What an IAM target reaches: through `byReference` when it is a reference to a resource of this
 * stack, through `byLiteral` when it is a literal id or name, unresolved otherwise. A data source
 * is managed elsewhere: its labels are not visible here.
 */
function targetReach(
  target: unknown,
  index: ResourceIndex,
  byReference: (resource: TfResource) => TfResource[],
  byLiteral: (literal: string) => TfResource[],
): Reach {
  const ref = index.target(target);
  if (ref) return ref.resource.mode === "data" ? UNRESOLVED : { resources: byReference(ref.resource), unresolved: false };
  const literal = readString(target);
  return literal.state === "known" ? { resources: byLiteral(literal.value), unresolved: false } : UNRESOLVED;
}

function lastSegment(id: string, collection: string): string | undefined {
  const m = new RegExp(`(?:^|/)${collection}/([^/]+)$`).exec(id);
  return m?.[1];
}

/** The literal key ring name of a crypto key, from a ring reference or a literal ring id. */
function ringNameOfKey(key: TfResource, index: ResourceIndex): string | undefined {
  const ref = index.target(key.config.key_ring);
  if (ref) {
    const name = readString(ref.resource.config.name);
    return name.state === "known" ? name.value : undefined;
  }
  const raw = readString(key.config.key_ring);
  return raw.state === "known" ? lastSegment(raw.value, "keyRings") : undefined;
}

export function projectMatches(value: unknown, context: RoomFacts): boolean {
  const p = readString(value);
  // A project given as an expression, or an unknown room project, may well be the room's.
  return p.state !== "known" || !context.project || p.value.replace(/^projects\//, "") === context.project;
}

/** The crypto keys of this stack that a binding reaches (key, key ring or project level). */
export function keysReached(b: IamTarget, index: ResourceIndex, context: RoomFacts): Reach {
  const keys = index.ofType("google_kms_crypto_key");
  switch (b.targetKind) {
    case "crypto_key":
      return targetReach(b.target, index, (r) => (r.type === "google_kms_crypto_key" ? [r] : []), (id) => {
        const ring = lastSegment(id.replace(/\/cryptoKeys\/[^/]+$/, ""), "keyRings");
        const name = lastSegment(id, "cryptoKeys");
        return keys.filter((k) => k.config.name === name && ringNameOfKey(k, index) === ring);
      });
    case "key_ring":
      return targetReach(
        b.target,
        index,
        (r) => index.referencing("google_kms_crypto_key", "key_ring", r),
        (id) => keys.filter((k) => ringNameOfKey(k, index) === lastSegment(id, "keyRings")),
      );
    case "project":
      return projectMatches(b.target, context) ? { resources: keys, unresolved: false } : NONE;
    default:
      return NONE;
  }
}

/** The buckets of this stack that a binding reaches (bucket or project level). */
export function bucketsReached(b: IamTarget, index: ResourceIndex, context: RoomFacts): Reach {
  const buckets = index.ofType("google_storage_bucket");
  switch (b.targetKind) {
    case "bucket":
      return targetReach(
        b.target,
        index,
        (r) => (r.type === "google_storage_bucket" ? [r] : []),
        (name) => buckets.filter((x) => x.config.name === name.replace(/^b\//, "")),
      );
    case "project":
      return projectMatches(b.target, context) ? { resources: buckets, unresolved: false } : NONE;
    default:
      return NONE;
  }
}

/* ------------------------------------------------------- service accounts */

/** A service account as a member or target names it: a resource of this stack and/or an email. */
export interface ServiceAccountRef {
  readonly address?: string;
  readonly email?: string;
}

function emailOf(sa: TfResource, context: RoomFacts): string | undefined {
  const id = readString(sa.config.account_id);
  if (id.state !== "known") return undefined;
  const project = readString(sa.config.project);
  const p = project.state === "known" ? project.value : context.project;
  return p ? `${id.value}@${p}.iam.gserviceaccount.com` : undefined;
}

/** Resolve `serviceAccount:<email>`, `${google_service_account.x.email}`, `projects/p/serviceAccounts/<email>`, … */
export function serviceAccountRef(value: string, index: ResourceIndex, context: RoomFacts): ServiceAccountRef {
  return index.cached(`sa:${context.project ?? ""}:${value}`, () => resolveServiceAccount(value, index, context));
}

function resolveServiceAccount(value: string, index: ResourceIndex, context: RoomFacts): ServiceAccountRef {
  const bare = value.replace(/^serviceAccount:/, "");
  const ref = wholeReference(bare);
  if (ref) {
    const sa = index.get(ref.address);
    if (sa?.type === "google_service_account") return { address: sa.address, email: emailOf(sa, context) };
    return {};
  }
  if (isUnresolved(bare)) return {};
  const email = bare.replace(/^projects\/[^/]+\/serviceAccounts\//, "");
  const [local, domain] = email.split("@");
  const sa = index.ofType("google_service_account").find((s) => {
    const computed = emailOf(s, context);
    if (computed) return computed === email;
    // Project unknown: the account id and Google's SA domain still identify it.
    return s.config.account_id === local && /\.iam\.gserviceaccount\.com$/.test(domain ?? "");
  });
  return { address: sa?.address, email };
}

export function sameServiceAccount(a: ServiceAccountRef, b: ServiceAccountRef): boolean {
  return (!!a.address && a.address === b.address) || (!!a.email && a.email === b.email);
}

/** Roles that let a principal act as, or mint credentials for, a service account. */
const IMPERSONATION_ROLES = new Set([
  "roles/iam.workloadIdentityUser",
  "roles/iam.serviceAccountTokenCreator",
  "roles/iam.serviceAccountUser",
  "roles/iam.serviceAccountOpenIdTokenCreator",
  "roles/iam.serviceAccountKeyAdmin",
  "roles/iam.serviceAccountAdmin",
  "roles/owner",
  "roles/editor",
]);

export function isCustomRole(role: string): boolean {
  return /^(projects|organizations)\/[^/]+\/roles\//.test(role);
}

function mayImpersonate(b: IamBinding): boolean {
  if (b.permissions) return permissionsImpersonate(b.permissions);
  return b.role === undefined || isCustomRole(b.role) || IMPERSONATION_ROLES.has(b.role);
}

/**
 * Whether a service account is a dataset reader that only attested workloads can act
 * as (impersonation mode): created in this stack, impersonable (`workloadIdentityUser`)
 * by attested principal sets of approved images and by nobody else, and without keys.
 * Returns why not, or undefined when it is one.
 */
export function notAttestedReader(
  sa: ServiceAccountRef,
  index: ResourceIndex,
  context: RoomFacts,
  approvedDigests?: ReadonlySet<string>,
): string | undefined {
  if (!sa.address) {
    return "it is not created in this stack, so who may impersonate it cannot be checked";
  }
  // The verdict depends on the account, the approved set and the stack only.
  const verdicts = index.cached(`reader-verdicts:${context.project ?? ""}`, () => new WeakMap<object, Map<string, string | undefined>>());
  const bySet = verdicts.get(approvedDigests ?? ANY_DIGEST) ?? new Map<string, string | undefined>();
  verdicts.set(approvedDigests ?? ANY_DIGEST, bySet);
  const saKey = `${sa.address}|${sa.email ?? ""}`;
  if (!bySet.has(saKey)) bySet.set(saKey, judgeReader(sa, index, context, approvedDigests));
  return bySet.get(saKey);
}

/** Stands for "any attested digest" in the verdict cache. */
const ANY_DIGEST: ReadonlySet<string> = new Set<string>();

/** IAM resources that can let someone act as a service account: on the account itself, or project-wide. */
function impersonationCandidates(index: ResourceIndex): readonly TfResource[] {
  return index.cached("impersonation-candidates", () =>
    index.resources.filter((r) => r.type.startsWith("google_service_account_iam_") || r.type.startsWith("google_project_iam_")),
  );
}

function judgeReader(
  sa: ServiceAccountRef,
  index: ResourceIndex,
  context: RoomFacts,
  approvedDigests?: ReadonlySet<string>,
): string | undefined {
  const key = index.ofType("google_service_account_key").find((k) => {
    const v = k.config.service_account_id;
    return typeof v === "string" && sameServiceAccount(serviceAccountRef(v, index, context), sa);
  });
  if (key) return `it has a user-managed key (${key.address}), which works without attestation`;

  let attestedUsers = 0;
  for (const r of impersonationCandidates(index)) {
    const decl = iamDeclaration(r, index);
    if (!decl) continue;
    const onSa =
      r.type.startsWith("google_service_account_iam_") &&
      typeof r.config.service_account_id === "string" &&
      sameServiceAccount(serviceAccountRef(r.config.service_account_id, index, context), sa);
    if (decl.opaque && onSa) return `${r.address} cannot be read (${decl.opaque})`;
    for (const b of decl.bindings) {
      // Project-level impersonation roles reach every service account of the project.
      const reaches = onSa || (b.targetKind === "project" && projectMatches(b.target, context));
      if (!reaches || !mayImpersonate(b)) continue;
      for (const m of b.members) {
        if (m.kind !== "attested" || undeclaredPool(m, index, context)) {
          return `${m.member} may impersonate it through ${b.role ?? "an unresolved role"} (${r.address})`;
        }
        if (approvedDigests && m.digest && !approvedDigests.has(m.digest)) {
          return `image digest ${m.digest} may impersonate it but is not approved for this dataset (${r.address})`;
        }
        if (onSa && b.role === "roles/iam.workloadIdentityUser") attestedUsers++;
      }
    }
  }
  return attestedUsers > 0
    ? undefined
    : "no attested principal set holds roles/iam.workloadIdentityUser on it";
}

/** Literal members of a key/bucket's dataset owners, from the policy. */
export function datasetOwners(context: RoomFacts, dataset: string | undefined): readonly string[] {
  return context.policy?.datasets.find((d) => d.name === dataset)?.owners ?? [];
}

/** Digests approved for a dataset, when the policy is known (undefined = any attested digest). */
export function approvedDigests(context: RoomFacts, dataset: string | undefined): ReadonlySet<string> | undefined {
  const policy = context.policy;
  if (!policy || !dataset) return undefined;
  // One pass over the approvals per policy, not one per member judged.
  let byDataset = APPROVED.get(policy);
  if (!byDataset) {
    byDataset = new Map<string, Set<string>>();
    for (const a of policy.approvals) {
      for (const d of a.datasets) {
        const set = byDataset.get(d) ?? new Set<string>();
        set.add(a.imageDigest);
        byDataset.set(d, set);
      }
    }
    APPROVED.set(policy, byDataset);
  }
  return byDataset.get(dataset) ?? EMPTY_DIGESTS;
}

const APPROVED = new WeakMap<object, Map<string, Set<string>>>();
const EMPTY_DIGESTS: ReadonlySet<string> = new Set<string>();

