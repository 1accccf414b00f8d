/**
 * The first `cdktf deploy` on a brand-new project succeeds only if Terraform's dependency graph
 * orders every call after what Google needs first. For every shipped clean-room config, on the
 * synthesized JSON of both stacks, this test builds that graph itself (`depends_on` plus `${…}`
 * references, transitively; the workloads stack reaches the platform stack through its stack
 * dependency) and proves:
 *
 * 1. every resource and data source reaches the `google_project_service` of each API its type
 *    needs (lib/internal/api-services.ts), and every synthesized type is in that table;
 * 2. every IAM resource with a GKE Workload Identity member (`…svc.id.goog[ns/ksa]`) reaches the cluster;
 * 3. no IAM member, target, role or policy names a managed resource of the stacks by a literal.
 *
 * The graph code here is deliberately independent of lib/internal/dependency-graph.ts (which
 * MCR-DEP1 uses); the tampered cases show both fail on a missing edge or a literal.
 */
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { Testing } from "cdktf";
import { loadPolicyFile } from "../lib/policy/load";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { apiServicesFor, API_SERVICES_BY_TYPE } from "../lib/internal/api-services";
import { checkTerraform } from "../lib/checks/engine";
import { CLEAN_ROOM_RULES } from "../lib/checks/pack";

const ROOT = join(__dirname, "..");

/** stacks/*.cleanroom.yaml, and examples/**\/*.cleanroom.yaml when there are examples. */
function shippedConfigs(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith(".cleanroom.yaml")) found.push(join(dir, e.name));
    }
  };
  for (const e of readdirSync(join(ROOT, "stacks"))) if (e.endsWith(".cleanroom.yaml")) found.push(join(ROOT, "stacks", e));
  walk(join(ROOT, "examples"));
  return found.sort();
}

interface SynthStack {
  readonly name: string;
  readonly json: any;
  /** Stacks this one is deployed after (cdktf stack dependencies). */
  readonly after: readonly string[];
}

function synthConfig(path: string): SynthStack[] {
  const policy = loadPolicyFile(path);
  const { platform, workloads } = createCleanRoomStacks(Testing.app(), policy, stacksOptionsFromPolicy(policy, path));
  return [platform, workloads].map((s) => ({
    name: s.node.id,
    json: JSON.parse(Testing.synth(s)),
    after: s.dependencies.map((d) => d.node.id),
  }));
}

// ---- an independent model of Terraform's graph -----------------------------------------------

interface Node {
  readonly stack: string;
  readonly mode: "resource" | "data";
  readonly type: string;
  readonly address: string;
  readonly config: any;
}

function nodesOf(s: SynthStack): Node[] {
  const out: Node[] = [];
  for (const mode of ["resource", "data"] as const) {
    for (const [type, byName] of Object.entries<any>(s.json[mode] ?? {})) {
      for (const [name, config] of Object.entries<any>(byName)) {
        out.push({ stack: s.name, mode, type, address: `${mode === "data" ? "data." : ""}${type}.${name}`, config });
      }
    }
  }
  return out;
}

/** The text inside each `${…}` of a string (brace-nesting aware). */
function interpolations(s: string): string[] {
  const out: string[] = [];
  for (let i = s.indexOf("${"); i >= 0; i = s.indexOf("${", i + 2)) {
    let depth = 0;
    let j = i + 1;
    while (j < s.length && !(s[j] === "}" && depth === 1)) {
      if (s[j] === "{") depth++;
      else if (s[j] === "}") depth--;
      j++;
    }
    out.push(s.slice(i + 2, j));
  }
  return out;
}

function allStrings(v: unknown, acc: string[] = []): string[] {
  if (typeof v === "string") acc.push(v);
  else if (Array.isArray(v)) v.forEach((x) => allStrings(x, acc));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) if (k !== "//") allStrings(x, acc);
  return acc;
}

/** Global key of a node: `stack/address`. */
const key = (stack: string, address: string) => `${stack}/${address}`;

class Graph {
  private readonly edges = new Map<string, Set<string>>();
  readonly nodes = new Map<string, Node>();

  constructor(stacks: readonly SynthStack[]) {
    for (const s of stacks) for (const n of nodesOf(s)) this.nodes.set(key(s.name, n.address), n);
    for (const s of stacks) {
      const here = new Set(nodesOf(s).map((n) => n.address));
      for (const n of nodesOf(s)) {
        const out = new Set<string>();
        for (const d of n.config.depends_on ?? []) if (here.has(d)) out.add(key(s.name, d));
        const { depends_on: _, ...rest } = n.config;
        for (const str of allStrings(rest)) {
          for (const expr of interpolations(str)) {
            for (const m of expr.matchAll(/(?:^|[^\w.-])((?:data\.)?[a-z][a-z0-9_]*\.[\w-]+)/g)) {
              if (here.has(m[1]) && m[1] !== n.address) out.add(key(s.name, m[1]));
            }
          }
        }
        // A stack is deployed after the stacks it depends on: it waits for all of their resources.
        for (const before of s.after) for (const b of nodesOf(stacks.find((x) => x.name === before)!)) out.add(key(before, b.address));
        this.edges.set(key(s.name, n.address), out);
      }
    }
  }

  reaches(from: string, to: string): boolean {
    const seen = new Set<string>();
    const todo = [...(this.edges.get(from) ?? [])];
    while (todo.length) {
      const x = todo.pop()!;
      if (x === to) return true;
      if (seen.has(x)) continue;
      seen.add(x);
      todo.push(...(this.edges.get(x) ?? []));
    }
    return false;
  }

  projectServices(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [k, n] of this.nodes) {
      if (n.mode === "resource" && n.type === "google_project_service") out.set(n.config.service, [...(out.get(n.config.service) ?? []), k]);
    }
    return out;
  }
}

const IAM_TYPE = /_iam_(member|binding|policy)$/;
const GKE_MEMBER = /\.svc\.id\.goog\[/;

/** Every broken promise of the graph, as readable lines. Empty means the first apply is ordered. */
function violations(stacks: readonly SynthStack[]): string[] {
  const g = new Graph(stacks);
  const services = g.projectServices();
  const clusters = [...g.nodes].filter(([, n]) => n.mode === "resource" && n.type === "google_container_cluster").map(([k]) => k);
  const out: string[] = [];

  // Names, ids and emails of every managed resource of the stacks.
  const names: { value: string; owner: string }[] = [];
  for (const [k, n] of g.nodes) {
    if (n.mode !== "resource" || IAM_TYPE.test(n.type) || n.type === "google_project_service") continue;
    const c = n.config;
    const add = (v: unknown) => typeof v === "string" && !v.includes("${") && v.length >= 4 && names.push({ value: v, owner: k });
    if (n.type === "google_service_account") add(`${c.account_id}@${c.project}.iam.gserviceaccount.com`);
    for (const f of ["name", "repository_id", "workload_identity_pool_id", "role_id"]) if (n.type.startsWith("google_")) add(c[f]);
  }

  for (const [k, n] of g.nodes) {
    const needs = apiServicesFor(n.type);
    if (needs === undefined) {
      out.push(`${k}: type ${n.type} is not in lib/internal/api-services.ts`);
      continue;
    }
    if (n.type !== "google_project_service") {
      for (const service of needs) {
        const enabling = services.get(service);
        if (!enabling) out.push(`${k}: needs ${service}, which no stack enables`);
        else if (!enabling.some((p) => g.reaches(k, p))) out.push(`${k}: does not reach the google_project_service of ${service}`);
      }
    }
    if (n.mode !== "resource" || !IAM_TYPE.test(n.type)) continue;
    const principals = allStrings([n.config.member, n.config.members, n.config.policy_data]);
    if (principals.some((m) => GKE_MEMBER.test(m)) && !clusters.some((c) => g.reaches(k, c))) {
      out.push(`${k}: names a GKE Workload Identity member but does not reach the cluster`);
    }
    const { condition: _c, project: _p, location: _l, depends_on: _d, provider: _pr, ...named } = n.config;
    for (const s of allStrings(named)) {
      let literal = s;
      for (const e of interpolations(s)) literal = literal.replace("${" + e + "}", " ");
      for (const { value, owner } of names) {
        const at = literal.indexOf(value);
        if (at < 0) continue;
        const before = literal[at - 1] ?? " ";
        const after = literal[at + value.length] ?? " ";
        if (/[\w.@-]/.test(before) || /[\w.@-]/.test(after)) continue;
        // The pool id in a principal set is what MCR-KMS1/GCS1 read; it must come with an edge to the pool.
        if (s.startsWith("principalSet://") && s.includes(`/workloadIdentityPools/${value}/`) && g.reaches(k, owner)) continue;
        out.push(`${k}: names ${owner} by the literal "${value}"`);
      }
    }
  }
  return out;
}

function dep1Errors(stacks: readonly SynthStack[]): string[] {
  return stacks.flatMap((s) =>
    checkTerraform(s.json, { allowDebug: false, now: new Date("2026-01-01T00:00:00Z") }, CLEAN_ROOM_RULES)
      .filter((f) => f.ruleId === "MCR-DEP1" && f.level === "error")
      .map((f) => `${s.name}/${f.address}: ${f.message}`),
  );
}

// ---- the shipped configs ---------------------------------------------------------------------

const configs = shippedConfigs();
const synthesized = new Map(configs.map((c) => [c, synthConfig(c)] as const));

test("given the shipped configs, then there is at least the example room", () => {
  expect(configs.map((c) => c.slice(ROOT.length + 1))).toContain("stacks/example.cleanroom.yaml");
});

describe.each(configs.map((c) => [c.slice(ROOT.length + 1), c]))("%s", (_name, config) => {
  const stacks = synthesized.get(config)!;

  test("then every synthesized type is in the API table", () => {
    const types = new Set(stacks.flatMap((s) => nodesOf(s).map((n) => n.type)));
    expect([...types].filter((t) => apiServicesFor(t) === undefined)).toEqual([]);
  });

  test("then every resource reaches its APIs, GKE identities reach the cluster, and IAM names nothing by a literal", () => {
    expect(violations(stacks)).toEqual([]);
  });

  test("then MCR-DEP1 finds no error either", () => {
    expect(dep1Errors(stacks)).toEqual([]);
  });

  test("then the graph is not vacuous: IAM grants, data sources and Workload Identity members were checked", () => {
    const nodes = stacks.flatMap(nodesOf);
    expect(nodes.filter((n) => n.type === "google_project_service").length).toBeGreaterThan(10);
    expect(nodes.some((n) => n.mode === "data" && n.type === "google_project")).toBe(true);
    expect(nodes.filter((n) => IAM_TYPE.test(n.type) && GKE_MEMBER.test(JSON.stringify(n.config.member ?? ""))).length).toBeGreaterThan(0);
    // The workloads stack's Google data sources are ordered through its stack dependency.
    expect(stacks.find((s) => s.name.endsWith("-workloads"))!.after).toEqual([stacks[0].name]);
  });
});

// ---- tampered JSON: the checks must fail -------------------------------------------------------

const example = synthesized.get(join(ROOT, "stacks", "example.cleanroom.yaml"))!;

function tamper(edit: (platform: any) => void): SynthStack[] {
  const copy = example.map((s) => ({ ...s, json: JSON.parse(JSON.stringify(s.json)) }));
  edit(copy[0].json);
  return copy;
}

function entry(json: any, type: string, match: (c: any, name: string) => boolean = () => true): [string, any] {
  const found = Object.entries<any>(json.resource[type]).find(([n, c]) => match(c, n));
  if (!found) throw new Error(`no ${type} to tamper with`);
  return found;
}

describe("given the example room's JSON, tampered", () => {
  test("when the Storage API's edges are removed, then both checks fail on the buckets", () => {
    const stacks = tamper((j) => {
      const storage = Object.entries<any>(j.resource.google_project_service).find(([, c]) => c.service === "storage.googleapis.com")![0];
      for (const byName of Object.values<any>({ ...j.resource, ...j.data })) {
        for (const c of Object.values<any>(byName)) {
          if (Array.isArray(c.depends_on)) c.depends_on = c.depends_on.filter((d: string) => d !== `google_project_service.${storage}`);
        }
      }
    });
    expect(violations(stacks).join("\n")).toMatch(/google_storage_bucket\.\S+: does not reach the google_project_service of storage\.googleapis\.com/);
    expect(dep1Errors(stacks).join("\n")).toMatch(/google_storage_bucket\.\S+: google_storage_bucket calls storage\.googleapis\.com but does not wait/);
  });

  test("when a data source loses its depends_on on its API, then both checks fail", () => {
    const stacks = tamper((j) => {
      const project = Object.values<any>(j.data.google_project)[0];
      project.depends_on = (project.depends_on as string[]).filter((d) => !d.startsWith("google_project_service."));
    });
    expect(violations(stacks).join("\n")).toMatch(/data\.google_project\.\S+: does not reach the google_project_service of cloudresourcemanager/);
    expect(dep1Errors(stacks).join("\n")).toMatch(/data\.google_project\.\S+: google_project calls cloudresourcemanager/);
  });

  test("when a Workload Identity grant loses its edge to the cluster, then both checks fail", () => {
    const stacks = tamper((j) => {
      const [, grant] = entry(j, "google_service_account_iam_member", (c) => GKE_MEMBER.test(c.member));
      grant.depends_on = (grant.depends_on as string[]).filter((d) => !d.startsWith("google_container_cluster."));
    });
    expect(violations(stacks).join("\n")).toMatch(/names a GKE Workload Identity member but does not reach the cluster/);
    expect(dep1Errors(stacks).join("\n")).toMatch(/GKE Workload Identity member .* does not wait for google_container_cluster\./);
  });

  test("when a bucket grant names its bucket by the literal name, then both checks fail", () => {
    const stacks = tamper((j) => {
      const [, grant] = entry(j, "google_storage_bucket_iam_member", (c) => /^\$\{google_storage_bucket\.[^.]+\.name\}$/.test(c.bucket));
      const bucketId = /^\$\{google_storage_bucket\.([^.]+)\.name\}$/.exec(grant.bucket)![1];
      grant.bucket = j.resource.google_storage_bucket[bucketId].name;
    });
    expect(violations(stacks).join("\n")).toMatch(/google_storage_bucket_iam_member\.\S+: names \S+google_storage_bucket\.\S+ by the literal/);
    expect(dep1Errors(stacks).join("\n")).toMatch(/bucket names google_storage_bucket\.\S+ by the literal/);
  });

  test("when the TEE service account's policy (the job service's actAs) names its account by literal email, then both checks fail", () => {
    const stacks = tamper((j) => {
      const [, grant] = entry(j, "google_service_account_iam_policy", (_c, name) => name.includes("tee_sa-iam_policy"));
      const saId = /^\$\{google_service_account\.([^.]+)\.name\}$/.exec(grant.service_account_id)![1];
      const sa = j.resource.google_service_account[saId];
      grant.service_account_id = `projects/${sa.project}/serviceAccounts/${sa.account_id}@${sa.project}.iam.gserviceaccount.com`;
    });
    expect(violations(stacks).join("\n")).toMatch(/google_service_account_iam_policy\.\S+: names \S+google_service_account\.\S+ by the literal/);
    expect(dep1Errors(stacks).join("\n")).toMatch(/service_account_id names google_service_account\.\S+ by the literal/);
  });

  test("when a repository grant's member is a literal service account email, then both checks fail", () => {
    const stacks = tamper((j) => {
      const [, grant] = entry(j, "google_artifact_registry_repository_iam_member", (c) => /^\$\{google_service_account\.[^.]+\.member\}$/.test(c.member));
      const saId = /^\$\{google_service_account\.([^.]+)\.member\}$/.exec(grant.member)![1];
      const sa = j.resource.google_service_account[saId];
      grant.member = `serviceAccount:${sa.account_id}@${sa.project}.iam.gserviceaccount.com`;
    });
    expect(violations(stacks).join("\n")).toMatch(/names \S+google_service_account\.\S+ by the literal/);
    expect(dep1Errors(stacks).join("\n")).toMatch(/member names google_service_account\.\S+ by the literal/);
  });

  test("when a type the table does not know appears, then the graph test fails and MCR-DEP1 warns", () => {
    const stacks = tamper((j) => {
      j.resource.google_made_up_thing = { x: { project: "acme-clean-room" } };
    });
    expect(violations(stacks)).toContain("insurance-study-platform/google_made_up_thing.x: type google_made_up_thing is not in lib/internal/api-services.ts");
    const warnings = checkTerraform(stacks[0].json, { allowDebug: false, now: new Date() }, CLEAN_ROOM_RULES).filter((f) => f.ruleId === "MCR-DEP1");
    expect(warnings).toEqual([expect.objectContaining({ level: "warning", address: "google_made_up_thing.x" })]);
  });
});

test("given the API table, then every API it names is one CleanRoomApis enables", () => {
  const { CLEAN_ROOM_APIS } = require("../lib/constructs/platform/apis");
  const named = new Set(Object.values(API_SERVICES_BY_TYPE).flat());
  // Services the room enables only when its policy needs them (Pub/Sub and Cloud Scheduler for stage-1 provisioning, VPC-SC),
  // or does not use (Cloud SQL, Secret Manager) and are there for resources added beside it.
  const optional = new Set(["sqladmin.googleapis.com", "secretmanager.googleapis.com", "pubsub.googleapis.com", "cloudscheduler.googleapis.com", "accesscontextmanager.googleapis.com"]);
  expect([...named].filter((s) => !(s in CLEAN_ROOM_APIS) && !optional.has(s))).toEqual([]);
});

describe("given the synth-time pass and the Aspect", () => {
  const { Aspects, TerraformStack } = require("cdktf");
  const { GoogleProvider } = require("@cdktf/provider-google/lib/provider");
  const { ProjectService } = require("@cdktf/provider-google/lib/project-service");
  const { StorageBucket } = require("@cdktf/provider-google/lib/storage-bucket");
  const { CleanRoomApis } = require("../lib/constructs/platform/apis");
  const { CleanRoomChecks } = require("../lib/checks/aspect");

  function build(withApis: boolean) {
    const stack = new TerraformStack(Testing.app(), "t");
    new GoogleProvider(stack, "google", { project: "acme-clean-room" });
    const checks = new CleanRoomChecks({ rules: CLEAN_ROOM_RULES.filter((r) => r.id === "MCR-DEP1") });
    Aspects.of(stack).add(checks); // before CleanRoomApis registers its pass
    if (withApis) new CleanRoomApis(stack, "apis", { room: { project: "acme-clean-room" } });
    else new ProjectService(stack, "storage-api", { project: "acme-clean-room", service: "storage.googleapis.com" });
    // Added after the APIs, beside the room: the pass covers it too.
    new StorageBucket(stack, "mine", { name: "acme-extra", location: "US" });
    const json = JSON.parse(Testing.synth(stack));
    return { json, errors: checks.findings(stack).filter((f: any) => f.level === "error") };
  }

  test("when CleanRoomApis is in the stack, then a bucket added beside it waits for the Storage API only, even with the checks added first", () => {
    const { json, errors } = build(true);
    expect(Object.values<any>(json.resource.google_storage_bucket)[0].depends_on).toEqual([expect.stringMatching(/^google_project_service\.apis_storage_/)]);
    expect(errors).toEqual([]);
  });

  test("when a stack enables the API by hand and the bucket does not wait, then the Aspect reports MCR-DEP1", () => {
    const { errors } = build(false);
    expect(errors).toEqual([expect.objectContaining({ ruleId: "MCR-DEP1", address: expect.stringMatching(/^google_storage_bucket\./) })]);
  });
});
