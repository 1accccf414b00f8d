/**
 * What a synthesized stack (cdk.tf.json, parsed) really declares about the data plane:
 * bucket locations and lifecycle, key rings and rotation, and every IAM grant with its
 * target resolved through `${type.id.attr}` references. Pure JSON reading: no cdktf, so
 * `manatee report` stays fast and works on any stack, whoever wrote it.
 */
import { suppressionsInConfig } from "../checks/suppressions-record";
import { PROJECT_NUMBER_PLACEHOLDER, ResourceRef } from "./access-model";
import { ReportSuppression } from "./suppressions";

/** The parts of a synthesized Terraform JSON document the report reads. */
export interface SynthesizedStack {
  readonly resource?: Record<string, Record<string, any>>;
  readonly data?: Record<string, Record<string, any>>;
  readonly [key: string]: unknown;
}

export interface LifecycleRuleFact {
  readonly action: string;
  readonly condition: Readonly<Record<string, unknown>>;
}

export interface BucketFact {
  /** `google_storage_bucket.<logical id>` (prefixed with the stack index when several stacks are read). */
  readonly address: string;
  readonly name: string;
  readonly location?: string;
  readonly lifecycle: readonly LifecycleRuleFact[];
  readonly versioning?: boolean;
  /** Soft-delete retention in seconds; absent when the stack leaves Google's default (7 days). */
  readonly softDeleteSeconds?: number;
  readonly labels: Readonly<Record<string, string>>;
}

export interface KeyFact {
  readonly address: string;
  readonly keyRing: string;
  readonly name: string;
  readonly location?: string;
  readonly rotationPeriod?: string;
  readonly protectionLevel?: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface GrantFact {
  readonly address: string;
  /** Absent when the target could not be resolved (e.g. an unknown reference). */
  readonly resource?: ResourceRef;
  readonly role: string;
  /** Resolved and normalised (project numbers in principal sets read `PROJECT_NUMBER`). */
  readonly member: string;
  readonly condition?: string;
}

/** A workload identity pool provider, with its pool id resolved. */
export interface ProviderFact {
  readonly address: string;
  readonly poolId?: string;
  readonly providerId?: string;
  readonly attributeCondition?: string;
  readonly attributeMapping: Readonly<Record<string, string>>;
}

export interface InfrastructureFacts {
  readonly buckets: readonly BucketFact[];
  readonly keys: readonly KeyFact[];
  /** Workload identity pools by id, with their addresses. @default [] */
  readonly pools?: readonly { readonly address: string; readonly poolId: string }[];
  readonly providers?: readonly ProviderFact[];
  readonly grants: readonly GrantFact[];
  /**
   * Authoritative `*_iam_binding` resources and `*_iam_policy` resources whose bindings could not be
   * read: they replace grants made elsewhere. (A policy from a `google_iam_policy` data source is
   * read into `grants`, binding by binding.)
   */
  readonly authoritative: readonly { readonly address: string; readonly type: string }[];
  /** Guardrail suppressions recorded on any resource (`"//": { "manatee": { "suppressions": [...] } }`). */
  readonly suppressions: readonly ReportSuppression[];
}

const REFERENCE = /\$\{(data\.)?([a-z0-9_]+)\.([^.}\s]+)\.([a-z0-9_]+)\}/g;

class StackIndex {
  constructor(
    private readonly stack: SynthesizedStack,
    private readonly defaultProject: string,
  ) {}

  config(type: string, id: string, data: boolean): Record<string, any> | undefined {
    return (data ? this.stack.data : this.stack.resource)?.[type]?.[id];
  }

  /** Replace every reference this index can answer; leave the others verbatim. */
  resolve(value: unknown, depth = 0): string | undefined {
    if (typeof value !== "string") return value === undefined || value === null ? undefined : String(value);
    if (depth > 8) return value;
    return value.replace(REFERENCE, (ref, data: string | undefined, type: string, id: string, attr: string) => {
      const config = this.config(type, id, data !== undefined);
      if (!config) return ref;
      return this.attribute(data !== undefined, type, config, attr, depth + 1) ?? ref;
    });
  }

  private attribute(data: boolean, type: string, c: Record<string, any>, attr: string, depth: number): string | undefined {
    const r = (v: unknown) => this.resolve(v, depth);
    const project = r(c.project) ?? this.defaultProject;
    if (data && type === "google_project" && attr === "number") return PROJECT_NUMBER_PLACEHOLDER;
    if (data) return undefined;
    switch (type) {
      case "google_storage_bucket":
        if (attr === "name" || attr === "id") return r(c.name);
        if (attr === "url") return `gs://${r(c.name)}`;
        return undefined;
      case "google_service_account": {
        const email = `${r(c.account_id)}@${project}.iam.gserviceaccount.com`;
        if (attr === "email") return email;
        if (attr === "member") return `serviceAccount:${email}`;
        if (attr === "name" || attr === "id") return `projects/${project}/serviceAccounts/${email}`;
        return undefined;
      }
      case "google_kms_key_ring":
        if (attr === "id") return `projects/${project}/locations/${r(c.location)}/keyRings/${r(c.name)}`;
        if (attr === "name") return r(c.name);
        return undefined;
      case "google_kms_crypto_key":
        if (attr === "id") return `${r(c.key_ring)}/cryptoKeys/${r(c.name)}`;
        if (attr === "name") return r(c.name);
        return undefined;
      case "google_project_iam_custom_role":
        // The data plane grants the SDK's custom roles by reference to their `name`.
        if (attr === "name" || attr === "id") return `projects/${project}/roles/${r(c.role_id)}`;
        return undefined;
      case "google_iam_workload_identity_pool":
        if (attr === "workload_identity_pool_id") return r(c.workload_identity_pool_id);
        if (attr === "name" || attr === "id") {
          return `projects/${PROJECT_NUMBER_PLACEHOLDER}/locations/global/workloadIdentityPools/${r(c.workload_identity_pool_id)}`;
        }
        return undefined;
      default:
        return undefined;
    }
  }
}

/** Principal sets name the project by number; compare them with the number abstracted away. */
export function normalizeMember(member: string): string {
  return member.replace(
    /^(principalSet|principal):\/\/iam\.googleapis\.com\/projects\/[^/]+\//,
    `$1://iam.googleapis.com/projects/${PROJECT_NUMBER_PLACEHOLDER}/`,
  );
}

function first(block: unknown): Record<string, any> {
  const value = Array.isArray(block) ? block[0] : block;
  return value !== null && typeof value === "object" ? (value as Record<string, any>) : {};
}

function keyRef(id: string | undefined): ResourceRef | undefined {
  const match = id?.match(/keyRings\/([^/]+)\/cryptoKeys\/([^/]+)$/);
  return match ? { kind: "key", name: `${match[1]}/${match[2]}` } : undefined;
}

function serviceAccountRef(id: string | undefined): ResourceRef | undefined {
  if (id === undefined || id.includes("${")) return undefined;
  const email = id.includes("/serviceAccounts/") ? id.slice(id.lastIndexOf("/") + 1) : id;
  return email.includes("@") ? { kind: "serviceAccount", name: email } : undefined;
}

function grantTarget(type: string, c: Record<string, any>, index: StackIndex, project: string): ResourceRef | undefined {
  const resolved = (v: unknown) => index.resolve(v);
  const literal = (v: string | undefined) => (v === undefined || v.includes("${") ? undefined : v);
  if (type.startsWith("google_storage_bucket_iam_")) {
    const name = literal(resolved(c.bucket)?.replace(/^b\//, ""));
    return name ? { kind: "bucket", name } : undefined;
  }
  if (type.startsWith("google_kms_crypto_key_iam_")) return keyRef(literal(resolved(c.crypto_key_id)));
  if (type.startsWith("google_kms_key_ring_iam_")) {
    const ring = literal(resolved(c.key_ring_id))?.match(/keyRings\/([^/]+)$/);
    return ring ? { kind: "keyRing", name: ring[1] } : undefined;
  }
  if (type.startsWith("google_service_account_iam_")) return serviceAccountRef(resolved(c.service_account_id));
  if (type.startsWith("google_project_iam_")) return { kind: "project", name: literal(resolved(c.project)) ?? project };
  return undefined;
}

/** The `binding` blocks of the `google_iam_policy` data source `policyData` names; undefined when it names none. */
function policyBindings(stack: SynthesizedStack, policyData: unknown): Record<string, any>[] | undefined {
  const ref = typeof policyData === "string" ? /^\$\{data\.google_iam_policy\.([^.}]+)\.policy_data\}$/.exec(policyData) : null;
  const document = ref ? stack.data?.google_iam_policy?.[ref[1]] : undefined;
  if (!document) return undefined;
  return Array.isArray(document.binding) ? document.binding : document.binding ? [document.binding] : [];
}

const IAM_TYPE = /^google_(storage_bucket|kms_crypto_key|kms_key_ring|service_account|project)_iam_(member|binding|policy)$/;

/**
 * Read the data-plane facts of one or more synthesized stacks. `defaultProject` stands in
 * for the provider's project where a resource does not name one.
 */
export function readInfrastructure(
  stacks: SynthesizedStack | readonly SynthesizedStack[],
  defaultProject: string,
): InfrastructureFacts {
  const list: readonly SynthesizedStack[] = Array.isArray(stacks) ? stacks : [stacks as SynthesizedStack];
  const buckets: BucketFact[] = [];
  const keys: KeyFact[] = [];
  const grants: GrantFact[] = [];
  const authoritative: { address: string; type: string }[] = [];
  const suppressions: ReportSuppression[] = [];
  const pools: { address: string; poolId: string }[] = [];
  const providers: ProviderFact[] = [];

  list.forEach((stack, i) => {
    const index = new StackIndex(stack, defaultProject);
    const at = (type: string, id: string) => (list.length > 1 ? `stack[${i}].${type}.${id}` : `${type}.${id}`);
    const r = (v: unknown) => index.resolve(v);
    for (const [type, byId] of Object.entries(stack.resource ?? {})) {
      for (const [id, c] of Object.entries(byId ?? {})) {
        const path = c["//"]?.metadata?.path;
        for (const s of suppressionsInConfig(c)) {
          suppressions.push({ ruleId: s.id, reason: s.reason, path: typeof path === "string" ? path : at(type, id) });
        }
        if (type === "google_storage_bucket") {
          const softDelete = first(c.soft_delete_policy).retention_duration_seconds;
          buckets.push({
            address: at(type, id),
            name: r(c.name) ?? "",
            ...(c.location !== undefined ? { location: r(c.location) } : {}),
            lifecycle: (Array.isArray(c.lifecycle_rule) ? c.lifecycle_rule : c.lifecycle_rule ? [c.lifecycle_rule] : []).map(
              (rule: any) => ({ action: String(first(rule.action).type ?? ""), condition: first(rule.condition) }),
            ),
            ...(c.versioning !== undefined ? { versioning: first(c.versioning).enabled === true } : {}),
            ...(softDelete !== undefined ? { softDeleteSeconds: Number(softDelete) } : {}),
            labels: c.labels ?? {},
          });
        } else if (type === "google_kms_crypto_key") {
          const ring = r(c.key_ring);
          const ringMatch = ring?.match(/locations\/([^/]+)\/keyRings\/([^/]+)$/);
          keys.push({
            address: at(type, id),
            keyRing: ringMatch?.[2] ?? ring ?? "",
            name: r(c.name) ?? "",
            ...(ringMatch ? { location: ringMatch[1] } : {}),
            ...(c.rotation_period !== undefined ? { rotationPeriod: r(c.rotation_period) } : {}),
            ...(first(c.version_template).protection_level !== undefined
              ? { protectionLevel: r(first(c.version_template).protection_level) }
              : {}),
            labels: c.labels ?? {},
          });
        } else if (type === "google_iam_workload_identity_pool") {
          const poolId = r(c.workload_identity_pool_id);
          if (poolId !== undefined) pools.push({ address: at(type, id), poolId });
        } else if (type === "google_iam_workload_identity_pool_provider") {
          const mapping: Record<string, string> = {};
          for (const [k, v] of Object.entries((c.attribute_mapping ?? {}) as Record<string, unknown>)) mapping[k] = r(v) ?? "";
          providers.push({
            address: at(type, id),
            ...(c.workload_identity_pool_id !== undefined ? { poolId: r(c.workload_identity_pool_id) } : {}),
            ...(c.workload_identity_pool_provider_id !== undefined ? { providerId: r(c.workload_identity_pool_provider_id) } : {}),
            ...(c.attribute_condition !== undefined ? { attributeCondition: r(c.attribute_condition) } : {}),
            attributeMapping: mapping,
          });
        }
        const iam = type.match(IAM_TYPE);
        if (!iam) continue;
        // An authoritative policy built from a google_iam_policy data source is read binding by
        // binding (what the constructs emit for data-guarding resources); any other is opaque.
        const bindings = iam[2] === "policy" ? policyBindings(stack, c.policy_data) : [c];
        if (iam[2] === "binding" || bindings === undefined) authoritative.push({ address: at(type, id), type });
        const target = grantTarget(type, c, index, defaultProject);
        for (const b of bindings ?? []) {
          const members: unknown[] = b.member !== undefined ? [b.member] : Array.isArray(b.members) ? b.members : [];
          const condition = first(b.condition).expression;
          for (const member of members) {
            grants.push({
              address: at(type, id),
              ...(target ? { resource: target } : {}),
              role: r(b.role) ?? "",
              member: normalizeMember(r(member) ?? ""),
              ...(condition !== undefined ? { condition: r(condition) } : {}),
            });
          }
        }
      }
    }
  });
  return { buckets, keys, pools, providers, grants, authoritative, suppressions };
}
