/**
 * The resource index: a read-only view of one synthesized stack (the `resource` and
 * `data` maps of cdk.tf.json) with the lookups rules need, e.g. from an IAM member's
 * `${google_kms_crypto_key.k.id}` to the key and its labels. No cdktf imports: the
 * same index serves the Aspect and `manatee check`.
 */

export type JsonObject = Record<string, unknown>;

/** One resource or data source as it appears in cdk.tf.json. */
export interface TfResource {
  readonly mode: "resource" | "data";
  /** Terraform type, e.g. `google_storage_bucket`. */
  readonly type: string;
  /** Logical id (the key under the type). */
  readonly name: string;
  /** `type.name`, or `data.type.name`. */
  readonly address: string;
  /** The resolved snake_case config, including any escape-hatch overrides. */
  readonly config: JsonObject;
  /** Construct path from the `//` metadata, when present. */
  readonly path?: string;
}

/** The parts of a Terraform JSON config the index reads. */
export interface TerraformJson {
  readonly resource?: Record<string, Record<string, JsonObject>>;
  readonly data?: Record<string, Record<string, JsonObject>>;
  readonly "//"?: JsonObject;
  readonly [key: string]: unknown;
}

/** A plain traversal `type.name.attr…` (or `data.type.name.attr…`) inside `${…}`. */
export interface Reference {
  readonly address: string;
  /** Attribute path after the address, e.g. `id`, `master_auth[0].x`; empty for the bare address. */
  readonly attribute: string;
}

/**
 * Which stack an index reads: its name (cdktf's `stackName`) and the default project of its
 * Google provider. Rules that judge a resource by the stack it is in (a consortium party's
 * stack or the operator's) read them; either may be unknown.
 */
export type StackFacts = ResourceIndex["stack"];

/** The stack facts a synthesized cdk.tf.json records (metadata stack name, default google provider's project). */
export function stackFactsOf(json: TerraformJson): StackFacts {
  const meta = (json["//"] as { metadata?: { stackName?: unknown } } | undefined)?.metadata;
  const google = (json.provider as { google?: unknown } | undefined)?.google;
  const configs = (Array.isArray(google) ? google : google ? [google] : []) as JsonObject[];
  const project = configs.find((c) => c && c.alias === undefined)?.project;
  return {
    name: typeof meta?.stackName === "string" ? meta.stackName : undefined,
    project: typeof project === "string" && !isUnresolved(project) ? project : undefined,
  };
}

const TRAVERSAL = /^(data\.)?([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)(?:\.(.+))?$/;
const NOT_RESOURCES = new Set(["var", "local", "module", "each", "count", "path", "terraform", "self"]);

/** True when the value is, or contains, a Terraform expression the config does not fix. */
export function isUnresolved(value: unknown): boolean {
  return typeof value === "string" && value.includes("${");
}

/** Parse one expression as a plain reference to a resource or data source, if it is one. */
export function parseReference(expression: string): Reference | undefined {
  const m = TRAVERSAL.exec(expression);
  if (!m) return undefined;
  const [, data, type, name, attribute] = m;
  if (!data && NOT_RESOURCES.has(type)) return undefined;
  if (data && type === "terraform_remote_state") return undefined;
  return { address: `${data ? "data." : ""}${type}.${name}`, attribute: attribute ?? "" };
}

/** When the whole value is exactly one `${reference}`, that reference. */
export function wholeReference(value: unknown): Reference | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^\$\{([^{}]*)\}$/.exec(value.trim());
  return m ? parseReference(m[1].trim()) : undefined;
}

export class ResourceIndex {
  private readonly byAddress = new Map<string, TfResource>();
  private readonly byType = new Map<string, TfResource[]>();
  private managed?: TfResource[];
  private data?: TfResource[];
  private readonly ofTypeCache = new Map<string, TfResource[]>();
  /** Derived facts, computed once per index: the index never changes after construction. */
  private readonly memo = new Map<string, unknown>();

  /** Build the index of one stack's Terraform JSON. */
  static fromJson(json: TerraformJson): ResourceIndex {
    const items: TfResource[] = [];
    for (const mode of ["resource", "data"] as const) {
      for (const [type, byName] of Object.entries(json[mode] ?? {})) {
        for (const [name, config] of Object.entries(byName ?? {})) {
          items.push(makeResource(mode, type, name, config));
        }
      }
    }
    return new ResourceIndex(items, stackFactsOf(json));
  }

  /** @param stack which stack the items are in (every resource of an index is in the same stack) */
  constructor(
    items: readonly TfResource[],
    readonly stack: { readonly name?: string; readonly project?: string } = {},
  ) {
    for (const item of items) {
      this.byAddress.set(item.address, item);
      const list = this.byType.get(item.type) ?? [];
      list.push(item);
      this.byType.set(item.type, list);
    }
  }

  /** Every managed resource (not data sources), in index order. Do not modify the array. */
  get resources(): TfResource[] {
    this.managed ??= [...this.byAddress.values()].filter((r) => r.mode === "resource");
    return this.managed;
  }

  /** Every data source, in index order. Do not modify the array. */
  get dataSources(): TfResource[] {
    this.data ??= [...this.byAddress.values()].filter((r) => r.mode === "data");
    return this.data;
  }

  /** Resources (or data sources) of one type, in index order. Do not modify the array. */
  ofType(type: string, mode: "resource" | "data" = "resource"): TfResource[] {
    const key = `${mode}:${type}`;
    let list = this.ofTypeCache.get(key);
    if (!list) {
      list = (this.byType.get(type) ?? []).filter((r) => r.mode === mode);
      this.ofTypeCache.set(key, list);
    }
    return list;
  }

  /**
   * `compute()` once per `key` for the life of this index. Rules look the same facts up
   * for every member of every binding; without this a large room checks in O(n²).
   */
  cached<T>(key: string, compute: () => T): T {
    if (this.memo.has(key)) return this.memo.get(key) as T;
    const value = compute();
    this.memo.set(key, value);
    return value;
  }

  get(address: string): TfResource | undefined {
    return this.byAddress.get(address);
  }

  /** The resource a whole-value `${type.name.attr}` points to, if it is in this stack. */
  target(value: unknown): { resource: TfResource; attribute: string } | undefined {
    const ref = wholeReference(value);
    const resource = ref && this.byAddress.get(ref.address);
    return resource && ref ? { resource, attribute: ref.attribute } : undefined;
  }

  /** Resources of `type` whose `field` is a reference to `target`. */
  referencing(type: string, field: string, target: TfResource): TfResource[] {
    return this.ofType(type).filter((r) => wholeReference(r.config[field])?.address === target.address);
  }
}

function makeResource(mode: "resource" | "data", type: string, name: string, config: JsonObject): TfResource {
  const meta = (config?.["//"] as JsonObject | undefined)?.metadata as JsonObject | undefined;
  return {
    mode,
    type,
    name,
    address: `${mode === "data" ? "data." : ""}${type}.${name}`,
    config: config ?? {},
    path: typeof meta?.path === "string" ? meta.path : undefined,
  };
}
