/**
 * What a synthesized stack (cdk.tf.json, parsed) really declares about the data plane:
 * bucket locations and lifecycle, key rings and rotation, and every IAM grant with its
 * target resolved through `${type.id.attr}` references. Read through lib/analysis (the
 * resource index, IAM declarations and reference values the checks use too); no cdktf, so
 * `manatee report` stays fast and works on any stack, whoever wrote it.
 */
import { iamDeclaration, IamTarget } from "../analysis/iam";
import { normalizeMember, ReferenceValues } from "../analysis/reference-values";
import { isUnresolved, ResourceIndex, TerraformJson, TfResource } from "../analysis/resource-index";
import { block, blocks } from "../analysis/values";
import { suppressionsInConfig } from "../checks/suppressions-record";
import { ResourceRef } from "./access-model";
import { ReportSuppression } from "./suppressions";

export { normalizeMember };

/** A synthesized Terraform JSON document (parsed cdk.tf.json): the one model checks and report read. */
export type SynthesizedStack = TerraformJson;

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
  /** Authoritative `*_iam_policy` / `*_iam_binding` resources: they replace grants made elsewhere. */
  readonly authoritative: readonly { readonly address: string; readonly type: string }[];
  /** Guardrail suppressions recorded on any resource (`"//": { "manatee": { "suppressions": [...] } }`). */
  readonly suppressions: readonly ReportSuppression[];
}

function keyRef(id: string | undefined): ResourceRef | undefined {
  const match = id?.match(/keyRings\/([^/]+)\/cryptoKeys\/([^/]+)$/);
  return match ? { kind: "key", name: `${match[1]}/${match[2]}` } : undefined;
}

function serviceAccountRef(id: string | undefined): ResourceRef | undefined {
  if (id === undefined || isUnresolved(id)) return undefined;
  const email = id.includes("/serviceAccounts/") ? id.slice(id.lastIndexOf("/") + 1) : id;
  return email.includes("@") ? { kind: "serviceAccount", name: email } : undefined;
}

/** The resource an IAM declaration applies to, by the name Terraform will give it. */
function grantTarget(decl: IamTarget, values: ReferenceValues, project: string): ResourceRef | undefined {
  const resolved = values.resolve(decl.target);
  const literal = resolved === undefined || isUnresolved(resolved) ? undefined : resolved;
  switch (decl.targetKind) {
    case "bucket": {
      const name = literal?.replace(/^b\//, "");
      return name ? { kind: "bucket", name } : undefined;
    }
    case "crypto_key":
      return keyRef(literal);
    case "key_ring": {
      const ring = literal?.match(/keyRings\/([^/]+)$/);
      return ring ? { kind: "keyRing", name: ring[1] } : undefined;
    }
    case "service_account":
      return serviceAccountRef(resolved);
    case "project":
      return { kind: "project", name: literal ?? project };
    default:
      return undefined;
  }
}

function bucketFact(bucket: TfResource, address: string, values: ReferenceValues): BucketFact {
  const c = bucket.config;
  const r = (v: unknown) => values.resolve(v);
  const softDelete = block(c.soft_delete_policy)?.retention_duration_seconds;
  return {
    address,
    name: r(c.name) ?? "",
    ...(c.location !== undefined ? { location: r(c.location) } : {}),
    lifecycle: blocks(c.lifecycle_rule).map((rule) => ({
      action: String(block(rule.action)?.type ?? ""),
      condition: block(rule.condition) ?? {},
    })),
    ...(c.versioning !== undefined ? { versioning: block(c.versioning)?.enabled === true } : {}),
    ...(softDelete !== undefined ? { softDeleteSeconds: Number(softDelete) } : {}),
    labels: rawLabels(bucket),
  };
}

function keyFact(key: TfResource, address: string, values: ReferenceValues): KeyFact {
  const c = key.config;
  const r = (v: unknown) => values.resolve(v);
  const ring = r(c.key_ring);
  const ringMatch = ring?.match(/locations\/([^/]+)\/keyRings\/([^/]+)$/);
  const protectionLevel = block(c.version_template)?.protection_level;
  return {
    address,
    keyRing: ringMatch?.[2] ?? ring ?? "",
    name: r(c.name) ?? "",
    ...(ringMatch ? { location: ringMatch[1] } : {}),
    ...(c.rotation_period !== undefined ? { rotationPeriod: r(c.rotation_period) } : {}),
    ...(protectionLevel !== undefined ? { protectionLevel: r(protectionLevel) } : {}),
    labels: rawLabels(key),
  };
}

function providerFact(provider: TfResource, address: string, values: ReferenceValues): ProviderFact {
  const c = provider.config;
  const r = (v: unknown) => values.resolve(v);
  const mapping: Record<string, string> = {};
  for (const [k, v] of Object.entries(block(c.attribute_mapping) ?? {})) mapping[k] = r(v) ?? "";
  return {
    address,
    ...(c.workload_identity_pool_id !== undefined ? { poolId: r(c.workload_identity_pool_id) } : {}),
    ...(c.workload_identity_pool_provider_id !== undefined ? { providerId: r(c.workload_identity_pool_provider_id) } : {}),
    ...(c.attribute_condition !== undefined ? { attributeCondition: r(c.attribute_condition) } : {}),
    attributeMapping: mapping,
  };
}

/** Labels as written, unresolved values included: the cross-check prints what it compared. */
function rawLabels(resource: TfResource): Record<string, string> {
  return (block(resource.config.labels) ?? {}) as Record<string, string>;
}

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
    const index = ResourceIndex.fromJson(stack);
    const values = new ReferenceValues(index, defaultProject);
    const at = (resource: TfResource) => (list.length > 1 ? `stack[${i}].${resource.address}` : resource.address);
    for (const resource of index.resources) {
      const address = at(resource);
      for (const s of suppressionsInConfig(resource.config)) {
        suppressions.push({ ruleId: s.id, reason: s.reason, path: resource.path ?? address });
      }
      if (resource.type === "google_storage_bucket") buckets.push(bucketFact(resource, address, values));
      else if (resource.type === "google_kms_crypto_key") keys.push(keyFact(resource, address, values));
      else if (resource.type === "google_iam_workload_identity_pool_provider") providers.push(providerFact(resource, address, values));
      else if (resource.type === "google_iam_workload_identity_pool") {
        const poolId = values.resolve(resource.config.workload_identity_pool_id);
        if (poolId !== undefined) pools.push({ address, poolId });
      }

      const decl = iamDeclaration(resource, index);
      // Only IAM on the kinds of resource the data plane grants on (not, e.g., on a repository).
      if (!decl || decl.targetKind === "other") continue;
      // A policy read binding by binding (a google_iam_policy data source: what the constructs emit
      // for data-guarding resources) is listed as its grants; a binding or an unreadable policy
      // replaces grants made elsewhere without saying which, so it is flagged for review.
      if (resource.type.endsWith("_iam_binding") || decl.opaque !== undefined) authoritative.push({ address, type: resource.type });
      if (decl.opaque !== undefined) continue;
      const target = grantTarget(decl, values, defaultProject);
      for (const binding of decl.bindings) {
        const condition = binding.condition?.expression;
        for (const member of binding.members) {
          grants.push({
            address,
            ...(target ? { resource: target } : {}),
            role: values.resolve(binding.rawRole) ?? "",
            member: normalizeMember(values.resolve(member.member) ?? ""),
            ...(condition !== undefined ? { condition: values.resolve(condition) } : {}),
          });
        }
      }
    }
  });
  return { buckets, keys, pools, providers, grants, authoritative, suppressions };
}
