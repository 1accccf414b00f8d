/**
 * The one place where resources learn to wait for what Google needs to exist first:
 *
 * - every resource and data source waits for the `google_project_service` of each API its type
 *   calls (table in ./api-services.ts), when the stack enables that API;
 * - every IAM resource naming a GKE Workload Identity member (`serviceAccount:P.svc.id.goog[ns/ksa]`)
 *   waits for the stack's GKE clusters: Google rejects the member until a cluster creates the
 *   project's workload pool.
 *
 * It runs as an Aspect on the stack node, i.e. once per synthesis, after every construct of the
 * stack exists (resources added beside the room included), and before the `CleanRoomChecks`
 * Aspect checks the stack (MCR-DEP1). `CleanRoomApis` registers it on its stack; cdktf 0.21
 * invokes Aspects from the stacks down, never from the App.
 *
 * Internal: not exported from lib/index.ts.
 */
import {
  Aspects,
  dependable,
  IAspect,
  ITerraformDependable,
  TerraformDataSource,
  TerraformElement,
  TerraformResource,
  TerraformStack,
  Token,
} from "cdktf";
import { IConstruct } from "constructs";
import { apiServicesFor, GKE_WORKLOAD_IDENTITY_MEMBER, isIamType } from "./api-services";
import { resolveTerraform } from "./fast-resolve";

type Dependent = TerraformResource | TerraformDataSource;

/** Adds the API and cluster dependencies of every resource of the stack it visits. */
export class ApiDependencies implements IAspect {
  private static readonly registered = new WeakSet<TerraformStack>();

  /** Register the pass on `scope`'s stack, once. */
  static ensure(scope: IConstruct): void {
    const stack = TerraformStack.of(scope);
    if (ApiDependencies.registered.has(stack)) return;
    ApiDependencies.registered.add(stack);
    Aspects.of(stack).add(new ApiDependencies());
  }

  /** True when `stack` runs the pass (the checks use it to apply the pass first if they were added earlier). */
  static isRegistered(stack: TerraformStack): boolean {
    return ApiDependencies.registered.has(stack);
  }

  visit(node: IConstruct): void {
    if (TerraformStack.isStack(node)) applyApiDependencies(node);
  }
}

/** Add the missing edges to every resource and data source of `stack`. Idempotent. */
export function applyApiDependencies(stack: TerraformStack): void {
  const elements = stack.node
    .findAll()
    .filter((c): c is Dependent => (TerraformResource.isTerraformResource(c) || TerraformDataSource.isTerraformDataSource(c)) && TerraformStack.of(c) === stack);

  const services = new Map<string, Dependent[]>();
  const clusters: Dependent[] = [];
  for (const el of elements) {
    if (el.terraformResourceType === "google_project_service") {
      const name = (el as unknown as { serviceInput?: unknown }).serviceInput;
      if (typeof name === "string" && !Token.isUnresolved(name)) services.set(name, [...(services.get(name) ?? []), el]);
    } else if (el.terraformResourceType === "google_container_cluster" && TerraformResource.isTerraformResource(el)) {
      clusters.push(el);
    }
  }
  if (services.size === 0 && clusters.length === 0) return;

  for (const el of elements) {
    const type = el.terraformResourceType;
    if (type === "google_project_service") continue;
    const wanted: ITerraformDependable[] = [];
    for (const service of apiServicesFor(type) ?? []) wanted.push(...(services.get(service) ?? []));
    if (clusters.length > 0 && isIamType(type) && namesGkeWorkloadIdentity(el, stack)) wanted.push(...clusters);
    addDependencies(el, wanted, stack);
  }
}

const resolve = (value: unknown, stack: TerraformStack): unknown => resolveTerraform(stack, value);

function namesGkeWorkloadIdentity(el: TerraformElement, stack: TerraformStack): boolean {
  const config = el.toTerraform() as Record<string, Record<string, Record<string, unknown>>>;
  const body = Object.values(Object.values(config.resource ?? config.data ?? {})[0] ?? {})[0] ?? {};
  const { member, members, policy_data } = body as Record<string, unknown>;
  return GKE_WORKLOAD_IDENTITY_MEMBER.test(JSON.stringify(resolve({ member, members, policy_data }, stack)));
}

function addDependencies(el: Dependent, wanted: readonly ITerraformDependable[], stack: TerraformStack): void {
  if (wanted.length === 0) return;
  const present = new Set((resolve(el.dependsOn ?? [], stack) as unknown[]).map(String));
  const added: string[] = [];
  for (const d of wanted) {
    const token = dependable(d);
    const address = String(resolve(token, stack));
    if (present.has(address)) continue;
    present.add(address);
    added.push(token);
  }
  if (added.length > 0) el.dependsOn = [...(el.dependsOn ?? []), ...added];
}
