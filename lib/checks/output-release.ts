/**
 * The output release as the rules see it (lib/constructs/data-plane/output-release.ts, attestation-verifier README "Output
 * release"): which buckets are the quarantine and release buckets, which service accounts are the
 * TEE's and the verifier's, and what storage permissions an IAM binding carries. Shared by
 * MCR-OUT1, MCR-OUT2 and MCR-OUT3.
 */
import { COMPONENT } from "../internal/common";
import { datasetIamLoad } from "../policy/iam-limits";
import { dataPlaneNames, outputReleaseNames, platformNames } from "../policy/names";
import { bootImage, imageFacts } from "../analysis/confidential-space";
import { IamBinding, iamDeclaration, isCustomRole, sameServiceAccount, serviceAccountRef, ServiceAccountRef } from "../analysis/iam";
import { CheckContext } from "./model";
import { Principal } from "../analysis/principals";
import { ResourceIndex, TfResource, wholeReference } from "../analysis/resource-index";
import { block, componentOf, dig, labelsOf, readString } from "../analysis/values";

/** The `use` label OutputRelease puts on its buckets. */
export const QUARANTINE_USE = "output-quarantine";
export const RELEASE_USE = "output-release";

const TEE_TYPES = ["google_compute_instance_template", "google_compute_region_instance_template", "google_compute_instance"];

export interface OutputReleaseFacts {
  /** Bucket names (literal) of the quarantine bucket(s): labelled `use: output-quarantine`, or named by the policy. */
  readonly quarantineNames: ReadonlySet<string>;
  readonly releaseNames: ReadonlySet<string>;
  /** Addresses of the stack's quarantine / release buckets. */
  readonly quarantineAddresses: ReadonlySet<string>;
  readonly releaseAddresses: ReadonlySet<string>;
  /** The TEE's service account(s): Confidential Space VMs' accounts, and the policy's TEE account. */
  readonly tee: readonly ServiceAccountRef[];
  /** The verifier's service account(s): the verifier function's or service's, and the policy's. */
  readonly verifier: readonly ServiceAccountRef[];
}

export function outputReleaseFacts(index: ResourceIndex, context: CheckContext): OutputReleaseFacts {
  return index.cached(`output-release:${context.project ?? ""}:${context.policy?.name ?? ""}`, () => readFacts(index, context));
}

function readFacts(index: ResourceIndex, context: CheckContext): OutputReleaseFacts {
  const quarantineNames = new Set<string>();
  const releaseNames = new Set<string>();
  const quarantineAddresses = new Set<string>();
  const releaseAddresses = new Set<string>();
  const policy = context.policy;
  if (policy) {
    const names = outputReleaseNames(policy);
    quarantineNames.add(names.quarantineBucket);
    releaseNames.add(names.releaseBucket);
  }
  for (const b of index.ofType("google_storage_bucket")) {
    const use = labelsOf(b).use;
    const name = readString(b.config.name);
    const literal = name.state === "known" ? name.value : undefined;
    const isQuarantine = use === QUARANTINE_USE || (literal !== undefined && quarantineNames.has(literal));
    const isRelease = use === RELEASE_USE || (literal !== undefined && releaseNames.has(literal));
    if (isQuarantine) {
      quarantineAddresses.add(b.address);
      if (literal) quarantineNames.add(literal);
    } else if (isRelease) {
      releaseAddresses.add(b.address);
      if (literal) releaseNames.add(literal);
    }
  }

  const tee: ServiceAccountRef[] = [];
  const verifier: ServiceAccountRef[] = [];
  const add = (list: ServiceAccountRef[], value: unknown) => {
    if (typeof value !== "string" || value === "") return;
    const ref = serviceAccountRef(value, index, context);
    if ((ref.address || ref.email) && !list.some((x) => sameServiceAccount(x, ref))) list.push(ref);
  };
  for (const type of TEE_TYPES) {
    for (const vm of index.ofType(type)) {
      const metadata = block(vm.config.metadata) ?? {};
      const confidential =
        componentOf(vm) === COMPONENT.teeWorkload ||
        Object.keys(metadata).some((k) => k.startsWith("tee-")) ||
        (imageFacts(bootImage(vm), index)?.confidentialSpace ?? "no") !== "no";
      if (confidential) add(tee, block(vm.config.service_account)?.email);
    }
  }
  for (const fn of index.ofType("google_cloudfunctions2_function")) {
    if (componentOf(fn) === COMPONENT.verifier) add(verifier, dig(fn.config, "service_config.service_account_email"));
  }
  for (const svc of index.ofType("google_cloud_run_v2_service")) {
    if (componentOf(svc) === COMPONENT.verifier) add(verifier, dig(svc.config, "template.service_account"));
  }
  if (policy) {
    const names = platformNames(policy);
    add(tee, names.teeSaEmail);
    add(verifier, names.verifierSaEmail);
  }
  return { quarantineNames, releaseNames, quarantineAddresses, releaseAddresses, tee, verifier };
}

/** Whether a member is one of `accounts`. */
export function isOneOf(member: Principal, accounts: readonly ServiceAccountRef[], index: ResourceIndex, context: CheckContext): boolean {
  if (member.kind !== "serviceAccount") return false;
  const ref = serviceAccountRef(member.account ?? member.member, index, context);
  return accounts.some((a) => sameServiceAccount(a, ref));
}

/* ------------------------------------------------------ attested identities */

/**
 * The room's attested identities, which MCR-OUT3 lets write nowhere but the quarantine bucket:
 * the principal sets of its workload identity pools (the standing pool and the job pools: image
 * digests, `group/job-approved`, or a whole pool), and the reader service accounts those principal
 * sets may impersonate (impersonation mode).
 */
export interface AttestedIdentities {
  /** Literal ids of the room's workload identity pools (declared in the stack, or named by the policy). */
  readonly poolIds: ReadonlySet<string>;
  /** Addresses of the stack's `google_iam_workload_identity_pool` resources. */
  readonly poolAddresses: ReadonlySet<string>;
  /** Service accounts an attested principal set may impersonate, and the policy's reader accounts. */
  readonly readers: readonly ServiceAccountRef[];
}

export function attestedIdentities(index: ResourceIndex, context: CheckContext): AttestedIdentities {
  return index.cached(`attested-identities:${context.project ?? ""}:${context.policy?.name ?? ""}`, () => readAttested(index, context));
}

function readAttested(index: ResourceIndex, context: CheckContext): AttestedIdentities {
  const poolIds = new Set<string>();
  const poolAddresses = new Set<string>();
  for (const pool of index.ofType("google_iam_workload_identity_pool")) {
    if (pool.mode !== "resource") continue;
    poolAddresses.add(pool.address);
    const id = readString(pool.config.workload_identity_pool_id);
    if (id.state === "known") poolIds.add(id.value);
  }
  const readers: ServiceAccountRef[] = [];
  const add = (value: string) => {
    const ref = serviceAccountRef(value, index, context);
    if ((ref.address || ref.email) && !readers.some((x) => sameServiceAccount(x, ref))) readers.push(ref);
  };
  const policy = context.policy;
  if (policy) {
    const names = dataPlaneNames(policy);
    poolIds.add(names.poolId);
    for (const d of policy.datasets) {
      poolIds.add(names.jobPoolId(d.name));
      if (d.access !== "impersonation") continue;
      const count = Math.max(1, datasetIamLoad(policy, d).readers);
      for (let n = 1; n <= count; n++) add(`${names.readerServiceAccountId(d.name, n)}@${policy.project}.iam.gserviceaccount.com`);
    }
  }
  const identities = { poolIds, poolAddresses, readers };
  // A service account that a principal set of the room's pools may act as is a reader.
  for (const r of index.resources) {
    if (!r.type.startsWith("google_service_account_iam_")) continue;
    const target = r.config.service_account_id;
    if (typeof target !== "string") continue;
    for (const b of iamDeclaration(r, index)?.bindings ?? []) {
      if (b.members.some((m) => m.kind !== "serviceAccount" && isRoomPrincipalSet(m, identities))) add(target);
    }
  }
  return identities;
}

/** A `principalSet://` or `principal://` member of one of the room's workload identity pools. */
function isRoomPrincipalSet(member: Principal, ids: Pick<AttestedIdentities, "poolIds" | "poolAddresses">): boolean {
  if (member.kind === "attested" || member.kind === "pool") return true;
  const m = member.member;
  if (!m.startsWith("principalSet://") && !m.startsWith("principal://")) return false;
  const literal = /\/workloadIdentityPools\/([^/$]+)\//.exec(m)?.[1];
  if (literal !== undefined && ids.poolIds.has(literal)) return true;
  for (const ref of m.matchAll(/\$\{(google_iam_workload_identity_pool\.[^.}]+)\./g)) {
    if (ids.poolAddresses.has(ref[1])) return true;
  }
  return false;
}

/** How MCR-OUT3 names an attested identity, or undefined when `member` is none. */
export function attestedIdentity(member: Principal, index: ResourceIndex, context: CheckContext): string | undefined {
  const ids = attestedIdentities(index, context);
  if (member.kind === "serviceAccount") {
    return isOneOf(member, ids.readers, index, context) ? `the attested reader service account ${member.member}` : undefined;
  }
  if (!isRoomPrincipalSet(member, ids)) return undefined;
  return member.group !== undefined ? `the job pool group ${member.member}` : `the attested principal set ${member.member}`;
}

/* ---------------------------------------------------------------- where */

export type BucketKind = "quarantine" | "release" | "other";

/** What an IAM binding reaches among the output buckets. */
export interface OutputReach {
  /** Buckets it reaches by kind; a project-level grant reaches all three kinds. */
  readonly kinds: ReadonlySet<BucketKind>;
  /** How findings name the target, e.g. `the quarantine bucket acme-…-quarantine` or `every bucket of project p`. */
  readonly shown: string;
  readonly projectLevel: boolean;
  /** The target bucket cannot be resolved (an expression or a data source without a literal name). */
  readonly unresolved: boolean;
}

const NOTHING: OutputReach = { kinds: new Set(), shown: "", projectLevel: false, unresolved: false };

function projectMatches(value: unknown, context: CheckContext): boolean {
  const p = readString(value);
  return p.state !== "known" || !context.project || p.value.replace(/^projects\//, "") === context.project;
}

export function outputReach(b: Pick<IamBinding, "targetKind" | "target">, index: ResourceIndex, context: CheckContext): OutputReach {
  const facts = outputReleaseFacts(index, context);
  if (b.targetKind === "project") {
    if (!projectMatches(b.target, context)) return NOTHING;
    const p = readString(b.target);
    return {
      kinds: new Set<BucketKind>(["quarantine", "release", "other"]),
      shown: `every bucket of project ${p.state === "known" ? p.value : context.project ?? "(unresolved)"} (a project-level grant)`,
      projectLevel: true,
      unresolved: false,
    };
  }
  if (b.targetKind !== "bucket") return NOTHING;
  const named = (kind: BucketKind, name: string): OutputReach => ({
    kinds: new Set([kind]),
    shown: kind === "other" ? `bucket ${name}` : `the ${kind} bucket ${name}`,
    projectLevel: false,
    unresolved: false,
  });
  const byName = (name: string): OutputReach =>
    named(facts.quarantineNames.has(name) ? "quarantine" : facts.releaseNames.has(name) ? "release" : "other", name);
  const ref = index.target(b.target);
  if (ref) {
    const bucket: TfResource = ref.resource;
    const name = readString(bucket.config.name);
    const shownName = name.state === "known" ? name.value : bucket.address;
    if (bucket.mode === "resource" && bucket.type === "google_storage_bucket") {
      if (facts.quarantineAddresses.has(bucket.address)) return named("quarantine", shownName);
      if (facts.releaseAddresses.has(bucket.address)) return named("release", shownName);
      return named("other", shownName);
    }
    if (name.state === "known") return byName(name.value);
    return { kinds: new Set(), shown: `the bucket of ${bucket.address}`, projectLevel: false, unresolved: true };
  }
  const raw = readString(b.target);
  if (raw.state === "known") return byName(raw.value.replace(/^b\//, ""));
  return { kinds: new Set(), shown: `bucket ${JSON.stringify(b.target)}`, projectLevel: false, unresolved: true };
}

/* ----------------------------------------------------------------- what */

const OBJECT_CREATOR = [
  "storage.objects.create",
  "storage.managedFolders.create",
  "storage.multipartUploads.create",
  "storage.multipartUploads.abort",
  "storage.multipartUploads.listParts",
];
const OBJECT_VIEWER = ["storage.objects.get", "storage.objects.list", "storage.managedFolders.get", "storage.managedFolders.list"];
const OBJECT_USER = [
  ...OBJECT_CREATOR,
  ...OBJECT_VIEWER,
  "storage.objects.delete",
  "storage.objects.update",
  "storage.objects.restore",
  "storage.managedFolders.delete",
  "storage.multipartUploads.list",
];
const OBJECT_ADMIN = [...OBJECT_USER, "storage.objects.getIamPolicy", "storage.objects.setIamPolicy", "storage.managedFolders.getIamPolicy", "storage.managedFolders.setIamPolicy"];
const ALL_STORAGE = [...OBJECT_ADMIN, "storage.buckets.get", "storage.buckets.update", "storage.buckets.delete", "storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy"];

/**
 * Object permissions of predefined roles on a bucket (cloud.google.com/storage/docs/access-control/iam-roles).
 * `roles/viewer`, `roles/editor` and `roles/owner` reach objects through the convenience members
 * (`projectViewer:`, `projectEditor:`, `projectOwner:`) every new bucket's policy grants legacy roles to.
 */
const PREDEFINED: Record<string, readonly string[]> = {
  "roles/storage.objectCreator": OBJECT_CREATOR,
  "roles/storage.objectViewer": OBJECT_VIEWER,
  "roles/storage.objectUser": OBJECT_USER,
  "roles/storage.objectAdmin": OBJECT_ADMIN,
  "roles/storage.admin": ALL_STORAGE,
  "roles/storage.legacyBucketReader": ["storage.buckets.get", "storage.objects.list", "storage.multipartUploads.list"],
  "roles/storage.legacyBucketWriter": ["storage.buckets.get", "storage.objects.list", "storage.objects.create", "storage.objects.delete", "storage.objects.restore", ...OBJECT_CREATOR.slice(1), "storage.multipartUploads.list"],
  "roles/storage.legacyBucketOwner": ["storage.buckets.get", "storage.buckets.update", "storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy", "storage.objects.list", "storage.objects.create", "storage.objects.delete", "storage.objects.restore", ...OBJECT_CREATOR.slice(1), "storage.multipartUploads.list"],
  "roles/storage.legacyObjectReader": ["storage.objects.get"],
  "roles/storage.legacyObjectOwner": ["storage.objects.get", "storage.objects.update", "storage.objects.getIamPolicy", "storage.objects.setIamPolicy"],
  "roles/owner": ALL_STORAGE,
  "roles/editor": ALL_STORAGE,
  "roles/viewer": ["storage.buckets.get", "storage.objects.get", "storage.objects.list"],
};

/**
 * The storage permissions a binding grants on a bucket, or `undefined` when they cannot be known:
 * the role is an expression, a custom role not declared (with literal permissions) in the stack, or
 * a `roles/storage.*` role this table does not know. Other predefined roles carry no object access.
 */
export function storagePermissions(b: IamBinding): ReadonlySet<string> | undefined {
  if (b.permissions) return new Set(b.permissions.filter((p) => p.startsWith("storage.")));
  if (b.role === undefined) return undefined;
  const known = PREDEFINED[b.role];
  if (known) return new Set(known);
  if (b.role.startsWith("roles/storage.") || isCustomRole(b.role)) return undefined;
  return new Set();
}

/** What the TEE may hold on the quarantine bucket: create, and what only serves its own uploads. */
export const QUARANTINE_CREATE_ONLY: ReadonlySet<string> = new Set(OBJECT_CREATOR);

/** Permissions that read quarantined objects, or let the holder grant itself that. */
export const READS_OBJECTS: ReadonlySet<string> = new Set([
  "storage.objects.get",
  "storage.objects.list",
  "storage.objects.setIamPolicy",
  "storage.buckets.setIamPolicy",
  "storage.managedFolders.setIamPolicy",
]);

/** Permissions that change a bucket's content or who may change it. */
const READ_ONLY: ReadonlySet<string> = new Set([
  "storage.objects.get",
  "storage.objects.list",
  "storage.objects.getIamPolicy",
  "storage.buckets.get",
  "storage.buckets.list",
  "storage.buckets.getIamPolicy",
  "storage.managedFolders.get",
  "storage.managedFolders.list",
  "storage.managedFolders.getIamPolicy",
  "storage.multipartUploads.list",
  "storage.multipartUploads.listParts",
]);

export function writes(permissions: ReadonlySet<string>): string[] {
  return [...permissions].filter((p) => p.startsWith("storage.") && !READ_ONLY.has(p)).sort();
}

/** Object writes in the sense of MCR-OUT3: creating or updating objects. */
export function objectWrites(permissions: ReadonlySet<string>): string[] {
  return [...permissions].filter((p) => p === "storage.objects.create" || p === "storage.objects.update").sort();
}

/** How a finding names a binding's role. */
export function roleShown(b: IamBinding): string {
  if (b.permissions) return `the custom role ${wholeReference(b.rawRole)?.address ?? b.role} (${b.permissions.join(", ")})`;
  return b.role ?? `the role ${JSON.stringify(b.rawRole)}`;
}
