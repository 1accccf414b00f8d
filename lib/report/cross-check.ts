/**
 * Does the synthesized infrastructure grant exactly what the report says? Compares the
 * access model (from the policy) with the facts read from cdk.tf.json: every grant on a
 * dataset's buckets, key, key ring and reader service account, project-wide data roles,
 * authoritative IAM resources, bucket location and lifecycle, key presence and rotation.
 */
import { CLEAN_ROOM_LABEL, COMPONENT, isInResidency } from "../internal/common";
import { AccessModel, DatasetAccess, ExpectedGrant, ResourceRef } from "./access-model";
import { BucketFact, GrantFact, InfrastructureFacts, KeyFact, normalizeMember } from "./infrastructure";

export type CrossCheckLevel = "error" | "warning";

export interface CrossCheckFinding {
  /** `error`: someone has access the report does not show, or a promise is not kept. */
  readonly level: CrossCheckLevel;
  /** What the finding is about: a resource (bucket name, key) or a Terraform address. */
  readonly subject: string;
  readonly message: string;
}

export interface CrossCheckResult {
  readonly findings: readonly CrossCheckFinding[];
  /** Facts of the dataset buckets and keys found, by bucket name and `keyRing/key`. */
  readonly buckets: ReadonlyMap<string, BucketFact>;
  readonly keys: ReadonlyMap<string, KeyFact>;
  /** Number of grants compared on the dataset resources. */
  readonly grantsCompared: number;
}

const PROJECT_WIDE_DATA_ROLE = /^roles\/(storage|cloudkms)\./;
const PROJECT_WIDE_BROAD_ROLE = /^roles\/(owner|editor|iam\.serviceAccountTokenCreator|iam\.workloadIdentityUser)$/;

function refKey(ref: ResourceRef): string {
  return `${ref.kind}:${ref.name}`;
}

const KIND_WORDS: Readonly<Record<ResourceRef["kind"], string>> = {
  bucket: "bucket",
  key: "key",
  keyRing: "key ring",
  serviceAccount: "service account",
  project: "project",
};

function describe(ref: ResourceRef): string {
  return `${KIND_WORDS[ref.kind]} ${ref.name}`;
}

/** Every reader service account of an impersonation dataset (none in direct mode). */
function readersOf(access: DatasetAccess): readonly string[] {
  return access.readerServiceAccounts ?? (access.readerServiceAccount ? [access.readerServiceAccount] : []);
}

function grantKey(resource: ResourceRef, role: string, member: string): string {
  return `${refKey(resource)}|${role}|${normalizeMember(member)}`;
}

/** Delete rules of a bucket that cover live objects and noncurrent versions within `days`. */
export function lifecycleCoverage(bucket: BucketFact, days: number): { live: boolean; noncurrent: boolean } {
  let live = false;
  let noncurrent = false;
  for (const rule of bucket.lifecycle) {
    if (rule.action !== "Delete") continue;
    const c = rule.condition;
    const extraFilters = ["matches_prefix", "matches_suffix", "matches_storage_class", "created_before", "custom_time_before"].some(
      (f) => c[f] !== undefined && !(Array.isArray(c[f]) && (c[f] as unknown[]).length === 0),
    );
    if (extraFilters) continue;
    const state = typeof c.with_state === "string" ? c.with_state : "ANY";
    const age = typeof c.age === "number" ? c.age : undefined;
    if (age !== undefined && age <= days) {
      if (state === "ANY" || state === "LIVE") live = true;
      if (state === "ANY" || state === "ARCHIVED") noncurrent = true;
    }
    const sinceNoncurrent = c.days_since_noncurrent_time;
    if (typeof sinceNoncurrent === "number" && sinceNoncurrent <= days && age === undefined) noncurrent = true;
  }
  return { live, noncurrent };
}

/** The synthesized grants by the resource they are on, each with its position in `facts.grants`. */
type GrantsByResource = ReadonlyMap<string, readonly { readonly grant: GrantFact; readonly position: number }[]>;

function grantsByResource(facts: InfrastructureFacts): GrantsByResource {
  const byResource = new Map<string, { grant: GrantFact; position: number }[]>();
  facts.grants.forEach((grant, position) => {
    if (!grant.resource) return;
    const k = refKey(grant.resource);
    const list = byResource.get(k) ?? [];
    list.push({ grant, position });
    byResource.set(k, list);
  });
  return byResource;
}

function checkDataset(
  access: DatasetAccess,
  model: AccessModel,
  facts: InfrastructureFacts,
  findings: CrossCheckFinding[],
  buckets: Map<string, BucketFact>,
  keys: Map<string, KeyFact>,
  grantsOn: GrantsByResource,
): number {
  const residency = model.policy.residency;
  const days = access.dataset.retentionDays;
  const room = model.policy.name;
  // Actual resource name -> the name the policy gives it, for resources found by label only.
  const aliases = new Map<string, string>();
  for (const view of Object.values(access.buckets)) {
    const bucket = findOwnResource(facts.buckets, (b) => b.name, view.name, { room, component: view.purpose, dataset: access.dataset.name });
    if (!bucket) {
      findings.push({
        level: "error",
        subject: view.name,
        message: `The ${view.purpose} bucket of dataset "${access.dataset.name}" is not in the synthesized configuration.`,
      });
      continue;
    }
    if (bucket.name !== view.name) {
      aliases.set(`bucket:${bucket.name}`, `bucket:${view.name}`);
      findings.push({
        level: "error",
        subject: bucket.address,
        message:
          `The ${view.purpose} bucket of dataset "${access.dataset.name}" is named "${bucket.name}", but the policy's names ` +
          `(dataPlaneNames) give "${view.name}": the report, the guardrails and the constructs must name the same bucket.`,
      });
    }
    buckets.set(view.name, bucket);
    if (bucket.location === undefined || bucket.location.includes("${") || !isInResidency(bucket.location, residency)) {
      findings.push({
        level: "error",
        subject: view.name,
        message: `Bucket location "${bucket.location ?? "(unset)"}" is not inside the residency set [${residency.join(", ")}].`,
      });
    }
    const coverage = lifecycleCoverage(bucket, days);
    if (!coverage.live || !coverage.noncurrent) {
      const missing = [!coverage.live ? "live objects" : "", !coverage.noncurrent ? "noncurrent versions" : ""].filter(Boolean);
      findings.push({
        level: "error",
        subject: view.name,
        message: `No lifecycle rule deletes ${missing.join(" or ")} within the dataset's ${days} retention days.`,
      });
    }
  }

  // A key found by its labels under another name: its grants count under the policy's name, and the rename is an error.
  const keyRenamed = (key: KeyFact, wanted: string, what: string): void => {
    const actual = keyFullName(key);
    aliases.set(`key:${actual}`, `key:${wanted}`);
    findings.push({
      level: "error",
      subject: key.address,
      message: `The ${what} of dataset "${access.dataset.name}" is "${actual}", but the policy's names (dataPlaneNames) give "${wanted}".`,
    });
  };
  const keyName = `${access.key.keyRing}/${access.key.name}`;
  const key = findOwnResource(facts.keys, keyFullName, keyName, { room, component: COMPONENT.datasetKey, dataset: access.dataset.name });
  if (!key) {
    findings.push({
      level: "error",
      subject: keyName,
      message: `The key of dataset "${access.dataset.name}" is not in the synthesized configuration.`,
    });
  } else {
    if (keyFullName(key) !== keyName) keyRenamed(key, keyName, "key");
    keys.set(keyName, key);
    if (key.rotationPeriod === undefined) {
      findings.push({ level: "warning", subject: keyName, message: "The dataset key has no rotation period." });
    }
  }

  const job = access.jobApproval;
  const approverName = `${job.approverKey.keyRing}/${job.approverKey.name}`;
  const approver = findOwnResource(facts.keys, keyFullName, approverName, { room, component: COMPONENT.approverKey, dataset: access.dataset.name });
  if (!approver) {
    findings.push({
      level: "warning",
      subject: approverName,
      message: `The approver key of dataset "${access.dataset.name}" is not in the synthesized configuration: its owners cannot approve jobs.`,
    });
  } else if (keyFullName(approver) !== approverName) {
    keyRenamed(approver, approverName, "approver key");
  }
  checkJobPool(access, facts, findings);

  // Every grant on this dataset's resources, compared in both directions.
  const resources: ResourceRef[] = [
    ...Object.values(access.buckets).map((b): ResourceRef => ({ kind: "bucket", name: b.name })),
    { kind: "key", name: keyName },
    // Who may sign approvals is who holds a role on the approver key.
    { kind: "key", name: approverName },
    ...readersOf(access).map((name): ResourceRef => ({ kind: "serviceAccount", name })),
  ];
  const onResources = new Set(resources.map(refKey));
  // Only grants on this dataset's resources (or on a resource found under another name),
  // in configuration order: one lookup per resource instead of a scan of every grant.
  const positions = new Set<number>();
  for (const k of [...onResources, ...aliases.keys()]) for (const { position } of grantsOn.get(k) ?? []) positions.add(position);
  const actual = [...positions]
    .sort((a, b) => a - b)
    .map((position) => facts.grants[position])
    .map((g): GrantFact => {
      const alias = g.resource ? aliases.get(refKey(g.resource)) : undefined;
      if (!alias) return g;
      const [kind, ...name] = alias.split(":");
      return { ...g, resource: { kind: kind as ResourceRef["kind"], name: name.join(":") } };
    })
    .filter((g) => g.resource && onResources.has(refKey(g.resource)));
  const actualByKey = new Map<string, GrantFact[]>();
  for (const g of actual) {
    const k = grantKey(g.resource!, g.role, g.member);
    actualByKey.set(k, [...(actualByKey.get(k) ?? []), g]);
  }
  const expectedByKey = new Map<string, ExpectedGrant>(access.grants.map((g) => [grantKey(g.resource, g.role, g.member), g]));

  for (const [k, expected] of expectedByKey) {
    const found = actualByKey.get(k);
    if (!found) {
      findings.push({
        level: "warning",
        subject: describe(expected.resource),
        message: `Missing grant: this report lists ${expected.role} for ${expected.member}, the configuration does not declare it.`,
      });
      continue;
    }
    for (const g of found) {
      if ((g.condition ?? "") !== (expected.condition ?? "")) {
        findings.push({
          level: "error",
          subject: g.address,
          message:
            `${g.role} for ${g.member} on ${describe(expected.resource)} has condition ` +
            `${g.condition ? `"${g.condition}"` : "(none)"}; the approval requires ${expected.condition ? `"${expected.condition}"` : "none"}.`,
        });
      }
    }
  }
  for (const [k, found] of actualByKey) {
    if (expectedByKey.has(k)) continue;
    for (const g of found) {
      findings.push({
        level: "error",
        subject: g.address,
        message: `Grant not explained by the policy: ${g.role} for ${g.member} on ${describe(g.resource!)}.`,
      });
    }
  }
  return actual.length;
}

/**
 * The dataset's job pool, when per-job approval is on: present with exactly the compiled condition
 * and mapping. A different condition or an extra provider may admit
 * tokens the report says are refused, so those are errors; a missing pool only overstates access.
 */
function checkJobPool(access: DatasetAccess, facts: InfrastructureFacts, findings: CrossCheckFinding[]): void {
  // Off: no pool to find. A leftover pool opens nothing by itself; grants to its group are
  // compared with the dataset's grants and reported as not explained by the policy.
  const job = access.jobApproval.pool;
  if (!job) return;
  const name = access.dataset.name;
  const pool = (facts.pools ?? []).find((p) => p.poolId === job.poolId);
  if (!pool) {
    findings.push({
      level: "warning",
      subject: job.poolId,
      message: `The job pool of dataset "${name}" is not in the synthesized configuration: per-job approval is on in the room file, yet no approved job can get a credential.`,
    });
    return;
  }
  const providers = (facts.providers ?? []).filter((p) => p.poolId === job.poolId);
  const provider = providers.find((p) => p.providerId === job.providerId);
  if (!provider) {
    findings.push({
      level: "warning",
      subject: pool.address,
      message: `Job pool ${job.poolId} has no provider ${job.providerId}: no approved job of dataset "${name}" can get a credential.`,
    });
  } else {
    if (provider.attributeCondition !== job.attributeCondition) {
      findings.push({
        level: "error",
        subject: provider.address,
        message:
          `The condition of job provider ${job.poolId}/${job.providerId} is not the one this report explains ` +
          `(compileJobApprovalCondition(policy, "${name}")): it may admit tokens the report says are refused.`,
      });
    }
    if (JSON.stringify(sorted(provider.attributeMapping)) !== JSON.stringify(sorted(job.attributeMapping))) {
      findings.push({
        level: "error",
        subject: provider.address,
        message:
          `The attribute mapping of job provider ${job.poolId}/${job.providerId} is ${JSON.stringify(sorted(provider.attributeMapping))}; ` +
          `this report explains ${JSON.stringify(sorted(job.attributeMapping))}.`,
      });
    }
  }
  for (const other of providers.filter((p) => p.providerId !== job.providerId)) {
    findings.push({
      level: "error",
      subject: other.address,
      message:
        `Job pool ${job.poolId} has another provider (${other.providerId ?? "unresolved id"}): its tokens also map into the pool, ` +
        `and this report does not explain what it admits.`,
    });
  }
}

function sorted(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Compare the model with the synthesized facts. */
export function crossCheck(model: AccessModel, facts: InfrastructureFacts): CrossCheckResult {
  const findings: CrossCheckFinding[] = [];
  const buckets = new Map<string, BucketFact>();
  const keys = new Map<string, KeyFact>();
  let grantsCompared = 0;
  const grantsOn = grantsByResource(facts);
  for (const access of model.datasets) grantsCompared += checkDataset(access, model, facts, findings, buckets, keys, grantsOn);

  const datasetRing = model.datasets[0]?.key.keyRing;
  const dataTargets = new Set(
    model.datasets.flatMap((a) => [
      ...Object.values(a.buckets).map((b) => `bucket:${b.name}`),
      `key:${a.key.keyRing}/${a.key.name}`,
      `key:${a.jobApproval.approverKey.keyRing}/${a.jobApproval.approverKey.name}`,
      ...readersOf(a).map((name) => `serviceAccount:${name}`),
    ]),
  );
  for (const g of facts.grants) {
    if (!g.resource) {
      if (PROJECT_WIDE_DATA_ROLE.test(g.role) || PROJECT_WIDE_BROAD_ROLE.test(g.role)) {
        findings.push({
          level: "warning",
          subject: g.address,
          message: `Could not resolve what ${g.role} for ${g.member} is granted on; review it by hand.`,
        });
      }
      continue;
    }
    if (g.resource.kind === "keyRing" && g.resource.name === datasetRing) {
      findings.push({
        level: "error",
        subject: g.address,
        message: `${g.role} for ${g.member} on the dataset key ring ${g.resource.name} reaches every dataset key.`,
      });
    } else if (g.resource.kind === "project" && PROJECT_WIDE_DATA_ROLE.test(g.role)) {
      findings.push({
        level: "error",
        subject: g.address,
        message: `Project-wide ${g.role} for ${g.member} reaches every dataset bucket or key, whatever the approvals say.`,
      });
    } else if (g.resource.kind === "project" && PROJECT_WIDE_BROAD_ROLE.test(g.role)) {
      findings.push({
        level: "warning",
        subject: g.address,
        message: `Project-wide ${g.role} for ${g.member} can reach clean-room data indirectly; review it.`,
      });
    }
  }
  for (const a of facts.authoritative) {
    const onData = facts.grants.some((g) => g.address === a.address && g.resource && dataTargets.has(refKey(g.resource)));
    if (onData || /_iam_policy$/.test(a.type)) {
      findings.push({
        level: "warning",
        subject: a.address,
        message: `${a.type} is authoritative: it removes grants made elsewhere on its target; review it by hand.`,
      });
    }
  }
  return { findings, buckets, keys, grantsCompared };
}

/**
 * The resource under the name the policy gives it, else the room's resource labelled as this
 * dataset's `component`: one that was renamed (the caller reports the rename).
 */
function findOwnResource<T extends { readonly labels: Readonly<Record<string, string>> }>(
  all: readonly T[],
  nameOf: (resource: T) => string,
  name: string,
  labels: { readonly room: string; readonly component: string; readonly dataset: string },
): T | undefined {
  return (
    all.find((r) => nameOf(r) === name) ??
    all.find(
      (r) =>
        r.labels[CLEAN_ROOM_LABEL.room] === labels.room &&
        r.labels[CLEAN_ROOM_LABEL.component] === labels.component &&
        r.labels[CLEAN_ROOM_LABEL.dataset] === labels.dataset,
    )
  );
}

function keyFullName(key: KeyFact): string {
  return `${key.keyRing}/${key.name}`;
}
