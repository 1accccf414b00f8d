/**
 * The dependency graph Terraform builds from a synthesized stack: an edge from a resource (or
 * data source) to every address in its `depends_on` and to every resource its `${…}`
 * expressions reference, followed transitively. Terraform creates a resource only after
 * everything it reaches.
 *
 * Also: which literal strings of an IAM resource name a resource the same stack manages. A
 * literal carries no edge, so Terraform may grant on, or to, something that does not exist yet.
 *
 * Used by MCR-DEP1 (lib/checks/rules/dependency-graph.ts) and test/dependency-graph.test.ts.
 * No cdktf imports. Internal: not exported from lib/index.ts.
 */
import { InternalError } from "../errors";

/** What the graph needs of a resource: the shape of `TfResource` in lib/checks. */
export interface GraphItem {
  readonly mode: "resource" | "data";
  readonly type: string;
  readonly address: string;
  readonly config: Record<string, unknown>;
}

/** A traversal inside an expression: `type.name`, `data.type.name` (and what follows). */
const TRAVERSAL = /(?<![A-Za-z0-9_.\-])(data\.)?([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_\-]*)/g;

/** `[start, end]` of each `${…}` in a string, nesting-aware: `text[start]` is `$`, `text[end]` its closing `}`. */
function expressionSpans(text: string): [number, number][] {
  const spans: [number, number][] = [];
  let i = text.indexOf("${");
  while (i >= 0) {
    let depth = 0;
    let j = i + 1;
    for (; j < text.length; j++) {
      if (text[j] === "{") depth++;
      else if (text[j] === "}" && --depth === 0) break;
    }
    spans.push([i, j]);
    i = text.indexOf("${", j + 1);
  }
  return spans;
}

/** The `${…}` expressions of a string, nesting-aware. */
export function expressionsIn(text: string): string[] {
  return expressionSpans(text).map(([i, j]) => text.slice(i + 2, j));
}

/** The string with every `${…}` replaced by a separator: what it says literally. */
export function literalText(text: string): string {
  let out = "";
  let last = 0;
  for (const [i, j] of expressionSpans(text)) {
    out += text.slice(last, i) + "\u0000";
    last = j + 1;
  }
  return out + text.slice(last);
}

function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => strings(v, out));
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) if (k !== "//") strings(v, out);
  return out;
}

/** Addresses of `known` that `value`'s expressions reference. */
export function referencedAddresses(value: unknown, known: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const s of strings(value)) {
    for (const expr of expressionsIn(s)) {
      for (const m of expr.matchAll(TRAVERSAL)) {
        const address = `${m[1] ?? ""}${m[2]}.${m[3]}`;
        if (known.has(address)) out.add(address);
      }
    }
  }
  return out;
}

export class DependencyGraph {
  /** Direct edges: address → what it depends on or references. */
  readonly edges = new Map<string, Set<string>>();
  private readonly closure = new Map<string, Set<string>>();

  constructor(items: readonly GraphItem[]) {
    const known = new Set(items.map((i) => i.address));
    for (const item of items) {
      const { depends_on: dependsOn, ...rest } = item.config;
      const direct = referencedAddresses(rest, known);
      for (const d of Array.isArray(dependsOn) ? dependsOn : []) {
        if (typeof d !== "string") continue;
        const plain = d.startsWith("${") ? expressionsIn(d)[0] ?? d : d;
        if (known.has(plain)) direct.add(plain);
      }
      direct.delete(item.address);
      this.edges.set(item.address, direct);
    }
  }

  /** Everything `from` waits for, transitively. */
  reachable(from: string): ReadonlySet<string> {
    const cached = this.closure.get(from);
    if (cached) return cached;
    const seen = new Set<string>();
    const stack = [...(this.edges.get(from) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (seen.has(next)) continue;
      seen.add(next);
      const done = this.closure.get(next);
      if (done) done.forEach((d) => seen.add(d));
      else stack.push(...(this.edges.get(next) ?? []));
    }
    this.closure.set(from, seen);
    return seen;
  }

  reaches(from: string, to: string): boolean {
    return this.reachable(from).has(to);
  }
}

/** How a managed resource can be named literally. */
export interface ResourceIdentifier {
  readonly address: string;
  /** The literal that names it (an id, a name, an email). */
  readonly value: string;
  /** Which field it comes from, e.g. `name`, `account_id` (as an email). */
  readonly field: string;
}

/** Fields whose literal value identifies the resource to Google. */
const IDENTIFYING_FIELDS = ["name", "repository_id", "workload_identity_pool_id", "role_id", "secret_id", "account_id", "key_ring", "database"];
/** Shorter literals (and these) name too many things to be told apart from other text. */
const MIN_IDENTIFIER_LENGTH = 4;

function isLiteral(value: unknown): value is string {
  return typeof value === "string" && !value.includes("${");
}

/** The literal names, ids and emails of the stack's managed Google resources. */
export function managedIdentifiers(items: readonly GraphItem[]): ResourceIdentifier[] {
  const out: ResourceIdentifier[] = [];
  for (const item of items) {
    if (item.mode !== "resource" || !item.type.startsWith("google_") || item.type === "google_project_service") continue;
    if (/_iam_(member|binding|policy)$/.test(item.type)) continue;
    for (const field of IDENTIFYING_FIELDS) {
      const value = item.config[field];
      if (!isLiteral(value) || value.length < MIN_IDENTIFIER_LENGTH) continue;
      if (field === "key_ring" || field === "database") continue; // references to other resources, not identities
      if (item.type === "google_service_account" && field === "account_id") {
        const project = item.config.project;
        // Without a literal project, any `<account_id>@…iam.gserviceaccount.com`.
        out.push({ address: item.address, field: "email", value: isLiteral(project) ? `${value}@${project}.iam.gserviceaccount.com` : `${value}@` });
        continue;
      }
      out.push({ address: item.address, field, value });
    }
  }
  return out;
}

/** IAM resource fields that do not name a principal or a target (conditions are judged at access time). */
const NOT_NAMING_FIELDS = new Set(["//", "depends_on", "provider", "lifecycle", "count", "for_each", "condition", "project", "location", "region", "zone", "etag"]);

export interface LiteralNaming {
  /** The IAM resource's field, e.g. `member`, `repository`, `policy_data`. */
  readonly field: string;
  /** The literal text found there. */
  readonly literal: string;
  readonly target: ResourceIdentifier;
}

/** The literals in an IAM resource's members, target and role that name a managed resource of `identifiers`. */
export function literalNamings(item: GraphItem, identifiers: readonly ResourceIdentifier[]): LiteralNaming[] {
  const out: LiteralNaming[] = [];
  const byPrefix = prefixIndex(identifiers);
  for (const [field, value] of Object.entries(item.config)) {
    if (NOT_NAMING_FIELDS.has(field)) continue;
    for (const s of strings(value)) {
      const text = literalText(s);
      // Identifiers that start at some position of the text, in the order of `identifiers`.
      const named = new Set<number>();
      for (let i = 0; i + MIN_IDENTIFIER_LENGTH <= text.length; i++) {
        for (const n of byPrefix.get(text.slice(i, i + MIN_IDENTIFIER_LENGTH)) ?? []) {
          const id = identifiers[n];
          if (!named.has(n) && id.address !== item.address && namesAt(text, i, id.value)) named.add(n);
        }
      }
      for (const n of [...named].sort((a, b) => a - b)) out.push({ field, literal: s, target: identifiers[n] });
    }
  }
  return out;
}

// A room has a thousand identifiers and a thousand IAM resources: each text is looked up by the
// first characters of each of its positions instead of searched once per identifier.
const prefixIndexes = new WeakMap<readonly ResourceIdentifier[], Map<string, number[]>>();

function prefixIndex(identifiers: readonly ResourceIdentifier[]): Map<string, number[]> {
  let index = prefixIndexes.get(identifiers);
  if (index) return index;
  index = new Map();
  identifiers.forEach((id, n) => {
    // managedIdentifiers keeps none shorter: a shorter one would never be found, so it is a bug.
    if (id.value.length < MIN_IDENTIFIER_LENGTH) throw new InternalError(`identifier "${id.value}" of ${id.address} is shorter than ${MIN_IDENTIFIER_LENGTH} characters`);
    const prefix = id.value.slice(0, MIN_IDENTIFIER_LENGTH);
    index!.set(prefix, [...(index!.get(prefix) ?? []), n]);
  });
  prefixIndexes.set(identifiers, index);
  return index;
}

/** `name` occurs at `i` in `text` as a whole name: not inside a longer id. An `x@` prefix needs the email's domain after it. */
function namesAt(text: string, i: number, name: string): boolean {
  if (!text.startsWith(name, i)) return false;
  const before = i === 0 ? "" : text[i - 1];
  const after = text.slice(i + name.length);
  const boundedBefore = before === "" || !/[A-Za-z0-9_.\-]/.test(before);
  const boundedAfter = name.endsWith("@") ? /^[a-z0-9-]+\.iam\.gserviceaccount\.com/.test(after) : after === "" || !/^[A-Za-z0-9_.\-@]/.test(after);
  return boundedBefore && boundedAfter;
}
