/**
 * The one place IAM bindings are made (a constructs module, not internal/: every grant method returns
 * an `IamGrant` and keys, buckets and service accounts expose their `AuthoritativeIamPolicy`, so
 * both are public API). Every `grant*` method of the library ends here, so each
 * binding has exactly one construct that owns it, and asking for the same binding twice returns
 * the same grant instead of a second resource.
 *
 * Two shapes:
 * - `AuthoritativeIamPolicy`: what guards data (dataset, approver and storage keys, stage-2 and
 *   output buckets, the TEE and reader service accounts) gets exactly one `google_iam_policy` data
 *   source and one `*_iam_policy` resource holding every binding the room compiles and nothing
 *   else. A binding added by hand (or a legacy `projectOwner:` bucket role) is removed on the
 *   next apply, and the guardrails see the whole policy in one place.
 * - `IamMemberGrants` / `grantOnProject`: additive `*_iam_member` for everything else, de-duplicated
 *   per (resource, role, member, condition); the owner of the resource decides the construct id.
 *
 * Why the policy is rendered lazily: grants arrive during construction from several constructs
 * (the data plane, the verifier, the job service), in whatever order the composition runs. The
 * data source and the policy resource are created with their target, so their Terraform addresses
 * never depend on who granted first; the bindings are a `Lazy` resolved at synthesis, when every
 * grant is in. Rendering groups bindings by resolved (role, condition) and sorts them and their
 * members, so the document does not depend on grant order either (deterministic synth).
 */
import { IResolveContext, ITerraformDependable, Lazy, TerraformProvider, TerraformResource, TerraformStack, Token, Tokenization, dependable, DefaultTokenResolver, StringConcat } from "cdktf";
import { Construct } from "constructs";
import { DataGoogleIamPolicy } from "@cdktf/provider-google/lib/data-google-iam-policy";
import { KmsCryptoKeyIamPolicy } from "@cdktf/provider-google/lib/kms-crypto-key-iam-policy";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";
import { ServiceAccountIamPolicy } from "@cdktf/provider-google/lib/service-account-iam-policy";
import { StorageBucketIamPolicy } from "@cdktf/provider-google/lib/storage-bucket-iam-policy";
import { IamCondition } from "../policy/members";
import { conditionBlock, grantIdFor } from "../internal/common";
import { handBackResolved, isPlainText } from "../internal/fast-resolve";

/** One role binding asked for by a grant method. */
export interface IamBindingSpec {
  readonly role: string;
  readonly member: string;
  /** @default - unconditional */
  readonly condition?: IamCondition;
  /** Resources the binding must wait for (e.g. the pool a principal set names). @default [] */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * A binding as every grant method returns it: the same object for the same (resource, role,
 * member, condition). Depending on it waits for the resource that enforces it.
 */
export interface IamGrant extends ITerraformDependable {
  readonly role: string;
  readonly member: string;
  readonly condition?: IamCondition;
  /** The resource that enforces the binding: its target's one `*_iam_policy`, or its own `*_iam_member`. */
  readonly resource: TerraformResource;
}

/** The key of a binding: IAM treats two bindings as one when role, member and condition match. */
export function bindingKey(role: string, member: string, condition?: IamCondition): string {
  return JSON.stringify([role, member, condition?.title ?? null, condition?.description ?? null, condition?.expression ?? null]);
}

const RESOLVER = new DefaultTokenResolver(new StringConcat());

/**
 * `bindingKey` with tokens resolved to their Terraform expressions: every read of a resource
 * attribute (`sa.member`) is a new token, yet names the same principal.
 */
function canonicalKey(scope: Construct, spec: IamBindingSpec): string {
  const stack = TerraformStack.of(scope);
  const plain = (v: string) => (Token.isUnresolved(v) ? String(Tokenization.resolve(v, { scope: stack, resolver: RESOLVER, preparing: false })) : v);
  const c = spec.condition;
  return bindingKey(plain(spec.role), plain(spec.member), c && { title: plain(c.title), description: c.description && plain(c.description), expression: plain(c.expression) });
}

/**
 * `text` resolved: a plain string (no token in it) is itself; cdktf would still scan it three times,
 * and every principal set's digest looks like a number to its scan.
 */
const resolvedText = (text: string, context: IResolveContext): string => (isPlainText(text) ? text : String(context.resolve(text)));

/** `condition` resolved: itself when none of its texts holds a token. */
function resolvedCondition(condition: IamCondition, context: IResolveContext): IamCondition {
  const plain = [condition.title, condition.description, condition.expression].every((t) => t === undefined || isPlainText(t));
  return plain ? definedOnly(condition) : (context.resolve(condition) as IamCondition);
}

/** `o` without its undefined fields, as cdktf's own resolution would leave it. */
const definedOnly = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** What an authoritative policy is set on. */
export type AuthoritativeTarget =
  | { readonly kind: "crypto_key"; readonly cryptoKeyId: string }
  | { readonly kind: "bucket"; readonly bucket: string }
  | { readonly kind: "service_account"; readonly serviceAccountId: string };

export interface AuthoritativeIamPolicyProps {
  readonly target: AuthoritativeTarget;
  /** @default the stack's default Google provider */
  readonly provider?: TerraformProvider;
}

/** The authoritative IAM policy resource an `AuthoritativeIamPolicy` holds, by kind of target. */
export type PolicyResource = KmsCryptoKeyIamPolicy | StorageBucketIamPolicy | ServiceAccountIamPolicy;

/**
 * The one authoritative IAM policy of one resource: a `google_iam_policy` data source (the
 * document, which the guardrails read) and the `*_iam_policy` resource that sets it. Create it in
 * the construct that owns the resource; every grant on the resource goes through `grant`.
 */
export class AuthoritativeIamPolicy extends Construct {
  public readonly document: DataGoogleIamPolicy;
  public readonly policy: PolicyResource;
  private readonly grants = new Map<string, IamGrant>();
  private readonly after = new Map<string, ITerraformDependable>();
  private rendered?: { readonly grants: number; readonly blocks: unknown[] };

  constructor(scope: Construct, id: string, props: AuthoritativeIamPolicyProps) {
    super(scope, id);
    const { target, provider } = props;
    this.document = new DataGoogleIamPolicy(this, "document", {
      binding: Lazy.anyValue({ produce: (context: IResolveContext) => this.render(context) }),
      provider,
    });
    const policyData = this.document.policyData;
    switch (target.kind) {
      case "crypto_key":
        this.policy = new KmsCryptoKeyIamPolicy(this, "policy", { cryptoKeyId: target.cryptoKeyId, policyData, provider });
        break;
      case "bucket":
        this.policy = new StorageBucketIamPolicy(this, "policy", { bucket: target.bucket, policyData, provider });
        break;
      case "service_account":
        this.policy = new ServiceAccountIamPolicy(this, "policy", { serviceAccountId: target.serviceAccountId, policyData, provider });
        break;
    }
  }

  /** Add a binding (the same role, member and condition twice is one binding) and return it. */
  public grant(spec: IamBindingSpec): IamGrant {
    const key = canonicalKey(this, spec);
    // The policy sets every binding at once: it waits for whatever any binding waits for.
    for (const d of spec.dependsOn ?? []) this.after.set(d.fqn, d);
    if (this.after.size > 0) this.policy.dependsOn = [...this.after.values()].map((d) => dependable(d));
    const existing = this.grants.get(key);
    if (existing) return existing;
    const grant: IamGrant = {
      role: spec.role,
      member: spec.member,
      condition: spec.condition,
      resource: this.policy,
      fqn: this.policy.fqn,
    };
    this.grants.set(key, grant);
    return grant;
  }

  /** Every binding granted so far, in grant order. */
  public get bindings(): readonly IamGrant[] {
    return [...this.grants.values()];
  }

  /** `binding` blocks: one per resolved (role, condition), members de-duplicated and sorted. */
  private render(context: IResolveContext): unknown[] | undefined {
    // The preparing pass resolves every token (cdktf registers cross-stack references there); the
    // later passes of the same grants give the same blocks. Grants are only ever added.
    if (!context.preparing && this.rendered?.grants === this.grants.size) return handBackResolved(context, this.rendered.blocks);
    const groups = new Map<string, { role: string; condition?: IamCondition; members: Set<string> }>();
    for (const g of this.grants.values()) {
      const role = resolvedText(g.role, context);
      const condition = g.condition ? resolvedCondition(g.condition, context) : undefined;
      const key = bindingKey(role, "", condition);
      const group = groups.get(key) ?? { role, condition, members: new Set<string>() };
      group.members.add(resolvedText(g.member, context));
      groups.set(key, group);
    }
    const blocks = [...groups.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, g]) => ({ role: g.role, members: [...g.members].sort(), ...(g.condition ? { condition: definedOnly(conditionBlock(g.condition)!) } : {}) }));
    // Every value above is resolved already: cdktf need not walk the members again (thousands of
    // principal sets in a large room, on each of a synth's resolutions).
    if (!context.preparing) this.rendered = { grants: this.grants.size, blocks };
    return handBackResolved(context, blocks);
  }
}

/** How an additive grant resource is made from its construct id and binding. */
export type IamMemberFactory<T extends TerraformResource> = (scope: Construct, id: string, binding: IamBindingSpec) => T;

/**
 * Additive `*_iam_member` grants on one resource (not data-guarding), owned by the construct that
 * owns the resource: one resource per (role, member, condition), whoever asks.
 */
export class IamMemberGrants<T extends TerraformResource> {
  private readonly byKey = new Map<string, T>();
  private readonly handles = new Map<T, IamGrant>();
  private tokenGrants = 0;

  constructor(
    private readonly owner: Construct,
    private readonly create: IamMemberFactory<T>,
  ) {}

  /**
   * The grant of `spec`, made once. `id` names it; the default derives it from `prefix`, member
   * and condition (`prefix-token-N` for a token member).
   */
  public grant(prefix: string, spec: IamBindingSpec & { readonly id?: string }): T {
    const key = canonicalKey(this.owner, spec);
    const existing = this.byKey.get(key);
    if (existing) return existing;
    const id = spec.id ?? grantIdFor(prefix, spec.member, spec.condition) ?? `${prefix}-token-${this.tokenGrants++}`;
    const child = this.owner.node.tryFindChild(id);
    if (child instanceof TerraformResource) return child as T;
    const made = this.create(this.owner, id, spec);
    this.byKey.set(key, made);
    return made;
  }

  /** `grant`, returned as an `IamGrant` (the same object for the same binding). */
  public grantHandle(prefix: string, spec: IamBindingSpec & { readonly id?: string }): IamGrant {
    const resource = this.grant(prefix, spec);
    const handle = this.handles.get(resource) ?? { role: spec.role, member: spec.member, condition: spec.condition, resource, fqn: resource.fqn };
    this.handles.set(resource, handle);
    return handle;
  }
}

const projectGrants = new WeakMap<TerraformStack, Map<string, ProjectIamMember>>();

/**
 * A project-level `google_project_iam_member`, made once per stack for each (project, role,
 * member, condition): the first construct that asks owns it and names it `id`; later askers get
 * the same resource.
 */
export function grantOnProject(
  owner: Construct,
  id: string,
  spec: IamBindingSpec & { readonly project: string; readonly provider?: TerraformProvider },
): ProjectIamMember {
  const stack = TerraformStack.of(owner);
  const registry = projectGrants.get(stack) ?? new Map<string, ProjectIamMember>();
  projectGrants.set(stack, registry);
  const key = `${spec.project}|${canonicalKey(owner, spec)}`;
  const existing = registry.get(key) ?? owner.node.tryFindChild(id);
  if (existing instanceof ProjectIamMember) return existing;
  const made = new ProjectIamMember(owner, id, {
    project: spec.project,
    role: spec.role,
    member: spec.member,
    condition: conditionBlock(spec.condition),
    dependsOn: spec.dependsOn,
    provider: spec.provider,
  });
  registry.set(key, made);
  return made;
}
