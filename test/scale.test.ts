/**
 * Scale and Google's limits (issue 6): a room with maximum-length names and many datasets
 * synthesizes every name within Google's rule for its resource, unique where Google requires it,
 * and every allow policy within IAM's limits. The large generated config is valid for the loader.
 */
import * as path from "node:path";
import { Testing } from "cdktf";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { withoutTokenCreationTraces } from "../bin/main";
import { parsePolicy } from "../lib/policy/load";
import { CleanRoomPolicy } from "../lib/policy/model";
import { NAME_RULES, NameKind, fitName, dataPlaneNames, resourceName } from "../lib/policy/names";
import { IAM_POLICY_LIMITS, datasetIamLoad } from "../lib/policy/iam-limits";
import { ATTRIBUTE_CONDITION_MAX_LENGTH, compileAttributeCondition } from "../lib/policy/condition";
import { SynthJson, grantsOn, iamGrants, synthStack } from "./util";
import { checkTerraform } from "../lib/checks/engine";
import { checkContext } from "../lib/checks/context";
import { TerraformJson } from "../lib/analysis/resource-index";
import { buildAccessModel } from "../lib/report/access-model";
import { crossCheck } from "../lib/report/cross-check";
import { readInfrastructure } from "../lib/report/infrastructure";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { generateLargeConfig, largeConfigYaml, LARGE_ROOM, LARGE_PROJECT } = require("../scripts/gen-large-config.js");

const VERIFIER_BUILD = path.join(__dirname, "fixtures", "verifier-build");

/** Terraform type → name-like field (dot path) → the rule it must satisfy. */
const NAME_FIELDS: Readonly<Record<string, Readonly<Record<string, NameKind>>>> = {
  google_service_account: { account_id: "serviceAccountId", display_name: "serviceAccountDisplayName" },
  google_iam_workload_identity_pool: { workload_identity_pool_id: "workloadIdentityPoolId", display_name: "workloadIdentityDisplayName" },
  google_iam_workload_identity_pool_provider: {
    workload_identity_pool_provider_id: "workloadIdentityProviderId",
    display_name: "workloadIdentityDisplayName",
  },
  google_storage_bucket: { name: "bucket" },
  google_kms_key_ring: { name: "keyRing" },
  google_kms_crypto_key: { name: "cryptoKey" },
  google_container_cluster: { name: "gkeCluster" },
  google_container_node_pool: { name: "gkeNodePool" },
  google_sql_database_instance: { name: "sqlInstance" },
  google_firestore_database: { name: "firestoreDatabaseId" },
  // The index's own id is assigned by Google; its collection is the job service's (job-service/src/firestore-store.ts).
  google_firestore_index: { collection: "firestoreCollectionId" },
  google_compute_network: { name: "computeName" },
  google_compute_subnetwork: { name: "computeName" },
  google_compute_router: { name: "computeName" },
  google_compute_router_nat: { name: "computeName" },
  google_compute_firewall: { name: "computeName" },
  google_compute_global_address: { name: "computeName" },
  // Cloud DNS zone names follow the same rule (1-63 lowercase letters, digits and '-', a letter first).
  google_dns_managed_zone: { name: "computeName" },
  google_compute_instance_template: { name_prefix: "instanceTemplatePrefix" },
  google_artifact_registry_repository: { repository_id: "artifactRepository" },
  google_cloudfunctions2_function: { name: "cloudFunction" },
  google_project_iam_custom_role: { role_id: "customRoleId" },
  google_logging_project_sink: { name: "logSink" },
  helm_release: { name: "helmRelease", namespace: "kubernetesName" },
};

/** Types whose names are fixed by someone else (an object key, an email, a contract string) or that have none. */
const NO_GENERATED_NAME = new Set([
  "google_project_service",
  "google_project_iam_member",
  "google_storage_bucket_iam_member",
  "google_kms_crypto_key_iam_member",
  "google_service_account_iam_member",
  // authoritative policies: their target's name and a google_iam_policy document
  "google_kms_crypto_key_iam_policy",
  "google_storage_bucket_iam_policy",
  "google_service_account_iam_policy",
  "google_artifact_registry_repository_iam_member",
  "google_cloud_run_v2_service_iam_member",
  "google_service_networking_connection",
  // content-addressed object names (sha256), far below Cloud Storage's 1,024 bytes
  "google_storage_bucket_object",
  // the job service account's email (MySQL keeps the account id, <= 30 characters)
  "google_sql_user",
  // `dcr-<namespace>-database`: JobDatabase checks the 64-character MySQL limit
  "google_sql_database",
  // Terraform's built-in resource (image builds run in its provisioner): no name, no Google resource
  "terraform_data",
  // DNS names of the Google API zones (googleapis.com., *.googleapis.com., ...)
  "google_dns_record_set",
]);

function fieldAt(config: any, dotted: string): unknown {
  return dotted.split(".").reduce((v, k) => (Array.isArray(v) ? v[0] : v)?.[k], config);
}

function check(kind: NameKind, value: unknown, where: string, problems: string[]): void {
  const rule = NAME_RULES[kind];
  if (typeof value !== "string") return void problems.push(`${where}: not a literal string (${JSON.stringify(value)})`);
  if (value.includes("${")) return; // a reference to a name checked where it is declared
  if (value.length < rule.min || value.length > rule.max || !rule.pattern.test(value)) {
    problems.push(`${where} = "${value}" (${value.length} chars) breaks ${kind}: ${rule.source}`);
  }
}

/** Every name-like field of every resource of `json`, judged; returns the broken ones. */
function nameProblems(json: SynthJson, stack: string): { problems: string[]; unmapped: string[] } {
  const problems: string[] = [];
  const unmapped = new Set<string>();
  for (const [type, byId] of Object.entries(json.resource ?? {})) {
    for (const [id, config] of Object.entries(byId)) {
      const where = `${stack}:${type}.${id}`;
      const fields = NAME_FIELDS[type];
      if (fields) for (const [field, kind] of Object.entries(fields)) check(kind, fieldAt(config, field), `${where}.${field}`, problems);
      else if (type.startsWith("kubernetes_")) {
        check("kubernetesName", fieldAt(config, "metadata.name"), `${where}.metadata.name`, problems);
        const ns = fieldAt(config, "metadata.namespace");
        if (ns !== undefined) check("kubernetesName", ns, `${where}.metadata.namespace`, problems);
        for (const [k, v] of Object.entries((fieldAt(config, "metadata.labels") as Record<string, string>) ?? {})) {
          check("kubernetesLabelValue", v, `${where}.metadata.labels.${k}`, problems);
        }
      } else if (!NO_GENERATED_NAME.has(type)) unmapped.add(type);
      // Google labels, wherever a resource carries them.
      for (const field of ["labels", "resource_labels", "settings.user_labels"]) {
        const labels = fieldAt(config, field) as Record<string, unknown> | undefined;
        if (labels === undefined || typeof labels !== "object") continue;
        for (const [k, v] of Object.entries(labels)) {
          check("labelKey", k, `${where}.${field} key`, problems);
          check("labelValue", v, `${where}.${field}.${k}`, problems);
        }
      }
    }
  }
  for (const provider of (json.provider?.google ?? []) as any[]) {
    for (const [k, v] of Object.entries(provider.default_labels ?? {})) {
      check("labelKey", k, `${stack}:provider.google.default_labels key`, problems);
      check("labelValue", v, `${stack}:provider.google.default_labels.${k}`, problems);
    }
  }
  return { problems, unmapped: [...unmapped] };
}

/** Values that appear more than once among `entries` (scope, name). */
function duplicates(entries: readonly [string, unknown][]): string[] {
  const seen = new Map<string, number>();
  for (const [scope, name] of entries) {
    if (typeof name !== "string") continue;
    const k = `${scope} ${name}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
}

const configs = (json: SynthJson, type: string): any[] => Object.values(json.resource?.[type] ?? {});

/** A room at every name limit: 20-char room, 30-char project, 30-char dataset names sharing a 26-char prefix. */
function maximalPolicy(datasets: number, approvals: number): CleanRoomPolicy {
  return parsePolicy(largeConfigYaml({ seed: 7, datasets, approvals }), "maximal.cleanroom.yaml");
}

describe("scale: a room with maximum-length names and many datasets", () => {
  let policy: CleanRoomPolicy;
  let platform: SynthJson;
  let workloads: SynthJson;

  beforeAll(() => {
    policy = maximalPolicy(200, 400);
    withoutTokenCreationTraces(() => {
      const options = stacksOptionsFromPolicy(policy);
      const stacks = createCleanRoomStacks(Testing.app(), policy, {
        ...options,
        platform: { ...options.platform, verifier: { sourceDir: VERIFIER_BUILD } },
        checks: false,
      });
      stacks.platform.prepareStack();
      stacks.workloads.prepareStack();
      platform = synthStack(stacks.platform);
      workloads = synthStack(stacks.workloads);
    });
  });

  test("given the generated room, then its names are at the limits the loader allows", () => {
    expect(policy.name).toHaveLength(20);
    expect(policy.project).toHaveLength(30);
    expect(policy.datasets.every((d) => d.name.length === 30)).toBe(true);
    expect(policy.datasets).toHaveLength(200);
  });

  test("then every name-like field of every resource fits Google's rule for it, and no resource type goes unchecked", () => {
    const p = nameProblems(platform, "platform");
    const w = nameProblems(workloads, "workloads");
    expect([...p.problems, ...w.problems]).toEqual([]);
    expect([...p.unmapped, ...w.unmapped]).toEqual([]);
  });

  test("then names are unique where Google requires it", () => {
    const all = [platform, workloads];
    const pick = (type: string, scope: (c: any) => string, name: (c: any) => unknown) =>
      all.flatMap((j) => configs(j, type).map((c): [string, unknown] => [scope(c), name(c)]));
    const global = () => "global";
    const project = (c: any) => c.project ?? policy.project;
    expect(duplicates(pick("google_storage_bucket", global, (c) => c.name))).toEqual([]); // bucket names are global
    expect(duplicates(pick("google_service_account", project, (c) => c.account_id))).toEqual([]);
    expect(duplicates(pick("google_kms_crypto_key", (c) => c.key_ring, (c) => c.name))).toEqual([]);
    expect(duplicates(pick("google_kms_key_ring", (c) => `${project(c)}/${c.location}`, (c) => c.name))).toEqual([]);
    for (const type of ["google_compute_firewall", "google_compute_network", "google_compute_subnetwork", "google_compute_router", "google_compute_global_address"]) {
      expect(duplicates(pick(type, project, (c) => c.name))).toEqual([]);
    }
    expect(duplicates(pick("google_container_node_pool", (c) => c.cluster, (c) => c.name))).toEqual([]);
    expect(duplicates(pick("google_artifact_registry_repository", (c) => `${project(c)}/${c.location}`, (c) => c.repository_id))).toEqual([]);
    expect(duplicates(pick("google_project_iam_custom_role", project, (c) => c.role_id))).toEqual([]);
    expect(duplicates(pick("google_iam_workload_identity_pool", project, (c) => c.workload_identity_pool_id))).toEqual([]);
    const k8s = all.flatMap((j) =>
      Object.entries(j.resource ?? {})
        .filter(([type]) => type.startsWith("kubernetes_"))
        .flatMap(([type, byId]) => Object.values(byId).map((c: any): [string, unknown] => [`${type}/${c.metadata?.namespace ?? ""}`, c.metadata?.name])),
    );
    expect(duplicates(k8s)).toEqual([]);
  });

  test("then datasets whose 30-character names share a 26-character prefix get distinct buckets, keys and readers", () => {
    const names = dataPlaneNames(policy);
    const [a, b] = [policy.datasets[0].name, policy.datasets[1].name];
    expect(a.slice(0, 26)).toBe(b.slice(0, 26));
    for (const purpose of ["stage1", "stage2"] as const) {
      expect(names.datasetBucket(a, purpose)).not.toBe(names.datasetBucket(b, purpose));
    }
    expect(names.readerServiceAccountId(a)).not.toBe(names.readerServiceAccountId(b));
    expect(names.readerServiceAccountId(a, 2)).not.toBe(names.readerServiceAccountId(a));
    const accountIds = configs(platform, "google_service_account").map((c) => c.account_id);
    expect(accountIds).toContain(names.readerServiceAccountId(policy.datasets[3].name)); // every 4th dataset impersonates
  });

  test("then every dataset's allow policies hold exactly the principals iam-limits counts, all within Google's limits", () => {
    // Principals per IAM target, as Google counts them (one per member, in a member resource or a policy binding).
    const perTarget = new Map<string, string[]>();
    for (const type of ["google_storage_bucket", "google_kms_crypto_key", "google_service_account"]) {
      for (const c of grantsOn(platform, type)) {
        const target = c.bucket ?? c.crypto_key_id ?? c.service_account_id;
        perTarget.set(target, [...(perTarget.get(target) ?? []), c.member]);
      }
    }
    const bucketRef = (name: string) => {
      const [id] = Object.entries(platform.resource!.google_storage_bucket).find(([, c]: [string, any]) => c.name === name)!;
      return `\${google_storage_bucket.${id}.name}`;
    };
    const keyRef = (dataset: string) => {
      // The dataset key, not its approver key (which carries the same dataset label).
      const [id] = Object.entries(platform.resource!.google_kms_crypto_key).find(
        ([, c]: [string, any]) => c.labels.dataset === dataset && c.labels.component === "dataset-key",
      )!;
      return `\${google_kms_crypto_key.${id}.id}`;
    };
    const names = dataPlaneNames(policy);
    for (const dataset of policy.datasets) {
      const load = datasetIamLoad(policy, dataset);
      const counted = Object.fromEntries(load.policies.map((p) => [`${p.resource}${p.reader ? ` ${p.reader}` : ""}`, p.principals]));
      const actual: Record<string, number> = {
        "stage-1 bucket": perTarget.get(bucketRef(names.datasetBucket(dataset.name, "stage1")))?.length ?? 0,
        "stage-2 bucket": perTarget.get(bucketRef(names.datasetBucket(dataset.name, "stage2")))?.length ?? 0,
        "dataset key": perTarget.get(keyRef(dataset.name))?.length ?? 0,
      };
      if (dataset.access === "impersonation") {
        const [id] = Object.entries(platform.resource!.google_service_account).find(
          ([, c]: [string, any]) => c.account_id === names.readerServiceAccountId(dataset.name),
        )!;
        actual["reader service account 1"] = perTarget.get(`\${google_service_account.${id}.name}`)?.length ?? 0;
      }
      expect({ dataset: dataset.name, principals: actual }).toEqual({ dataset: dataset.name, principals: counted });
      for (const p of load.policies) expect(p.principals).toBeLessThanOrEqual(IAM_POLICY_LIMITS.principalsPerPolicy);
    }
  });

  test("then the guardrails find no error and the access report's cross-check no discrepancy", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const errors = checkTerraform(platform as TerraformJson, checkContext({ policy, now })).filter((f) => f.level === "error");
    expect(errors).toEqual([]);
    const result = crossCheck(buildAccessModel(policy), readInfrastructure([platform, workloads], policy.project));
    expect(result.findings).toEqual([]);
    expect(result.grantsCompared).toBeGreaterThan(policy.datasets.length * 3);
  });

  test("then no principal holds a role on one resource under two conditions, and conditions stay within IAM's 12 logical operators (expiry uses none)", () => {
    const conditionsOf = new Map<string, Set<string>>();
    for (const { type, config: c } of iamGrants(platform).map((g) => ({ ...g, config: { ...g.config, member: g.member } }))) {
      {
        const target = c.bucket ?? c.crypto_key_id ?? c.service_account_id ?? c.project ?? c.repository ?? c.name;
        const k = `${type}|${target}|${c.role}|${c.member}`;
        conditionsOf.set(k, (conditionsOf.get(k) ?? new Set()).add(c.condition?.expression ?? ""));
        const operators = (c.condition?.expression ?? "").match(/&&|\|\||!(?!=)/g) ?? [];
        expect(operators.length).toBeLessThanOrEqual(IAM_POLICY_LIMITS.logicalOperatorsPerCondition);
        if (String(c.condition?.title ?? "").startsWith("approval-until-")) expect(operators).toEqual([]);
      }
    }
    const most = Math.max(...[...conditionsOf.values()].map((s) => s.size));
    expect(most).toBe(1);
    expect(most).toBeLessThanOrEqual(IAM_POLICY_LIMITS.bindingsPerRoleAndPrincipal);
  });
});

describe("scale: the name checker itself", () => {
  test("given names and labels that break their rules and a type it does not know, then it reports each of them", () => {
    const json: SynthJson = {
      resource: {
        google_storage_bucket: { b: { name: "Upper_Case-bucket", labels: { Team: "ok", component: "x".repeat(64) } } },
        google_compute_firewall: { f: { name: "a".repeat(64) } },
        google_pubsub_topic: { t: { name: "new-kind" } },
      },
    };
    const { problems, unmapped } = nameProblems(json, "s");
    expect(problems).toEqual([
      expect.stringContaining(`s:google_storage_bucket.b.name = "Upper_Case-bucket"`),
      expect.stringContaining("s:google_storage_bucket.b.labels key"),
      expect.stringContaining("s:google_storage_bucket.b.labels.component"),
      expect.stringContaining("s:google_compute_firewall.f.name"),
    ]);
    expect(unmapped).toEqual(["google_pubsub_topic"]);
  });
});

describe("scale: names that share a long prefix", () => {
  test("given two names longer than the limit that differ only at the end, then fitName keeps them distinct, readable and within the limit", () => {
    const a = `${"regional-insurance-claims-history".repeat(2)}-a`;
    const b = `${"regional-insurance-claims-history".repeat(2)}-b`;
    const [fa, fb] = [fitName(a, 30), fitName(b, 30)];
    expect(fa).not.toBe(fb);
    expect(fa.length).toBeLessThanOrEqual(30);
    expect(fb.length).toBeLessThanOrEqual(30);
    // A readable prefix, '-', and six hex digits of a hash of the whole name.
    expect(fa).toMatch(/^regional-insurance-clai-[0-9a-f]{6}$/);
    expect(fb).toMatch(/^regional-insurance-clai-[0-9a-f]{6}$/);
  });

  test("given every resource kind, then a name at the limit is kept and one past it is hashed, never truncated into a collision", () => {
    for (const kind of ["serviceAccountId", "bucket", "gkeCluster", "computeName", "artifactRepository"] as const) {
      const max = NAME_RULES[kind].max;
      const exact = `a${"b".repeat(max - 1)}`;
      expect(resourceName(kind, exact)).toBe(exact);
      const x = resourceName(kind, `${exact}x`);
      const y = resourceName(kind, `${exact}y`);
      expect(x).not.toBe(y);
      expect(x.length).toBeLessThanOrEqual(max);
    }
  });
});

describe("scale: the large generated config", () => {
  test("given the same seed, then the generator writes the same bytes; another seed, other approvals", () => {
    expect(largeConfigYaml({ seed: 3 })).toBe(largeConfigYaml({ seed: 3 }));
    expect(largeConfigYaml({ seed: 3 })).not.toBe(largeConfigYaml({ seed: 4 }));
  });

  test("then it is valid for the loader: 200 datasets, 1,000 approvals of 1-5 datasets each, at the name limits", () => {
    const policy = parsePolicy(largeConfigYaml(), "large.cleanroom.yaml");
    expect(policy.name).toBe(LARGE_ROOM);
    expect(policy.project).toBe(LARGE_PROJECT);
    expect(policy.datasets).toHaveLength(200);
    expect(policy.approvals).toHaveLength(1000);
    const sizes = new Set(policy.approvals.map((a) => a.datasets.length));
    expect([...sizes].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(generateLargeConfig().approvals).toHaveLength(1000);
  });

  test("then its attribute condition is exactly as long as the same room's without approvals: digests live in principal sets", () => {
    const policy = parsePolicy(largeConfigYaml(), "large.cleanroom.yaml");
    const condition = compileAttributeCondition(policy);
    expect(condition).toBe(compileAttributeCondition({ ...policy, approvals: [] }));
    expect(condition.length).toBeLessThan(ATTRIBUTE_CONDITION_MAX_LENGTH);
    expect(condition).not.toContain("sha256:");
  });
});
