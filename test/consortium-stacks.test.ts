/**
 * A consortium room (docs/consortium-contract.md) synthesizes into separate stacks: the
 * operator's (`-platform`, `-workloads`) and one per party (`-party-<party>`), each party's in its
 * own project, holding its own data, naming only its own pool, and referencing no other stack.
 */
import { Testing } from "cdktf";
import { createCleanRoomStacks } from "../stacks";
import { CleanRoomChecks } from "../lib/checks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { loadPolicyFile } from "../lib/policy/load";
import { CleanRoomPolicy } from "../lib/policy/model";
import { manateeContract } from "../lib/policy/names";
import { partyPoolId } from "../lib/policy/party-names";
import { evaluateAttributeCondition, productionTdxClaims } from "./cel";
import { SynthJson, iamGrants, resources, synthStack } from "./util";

const SHARED = "sha256:1580f84f1585dbecd84479ae867b6d586de31a19bbc9e551f2fbc20f9df59ec9";
const ONLY_A = "sha256:67682bda769fae1ccf5183192b8daf37b64cae99c6c3302650f6f8bf5f0f95df";
const OPERATOR = "consortium-operator";
const PROJECTS: Record<string, string> = { "hospital-a": "hospital-a-cleanroom", "hospital-b": "hospital-b-cleanroom" };

/** The shipped consortium: stacks/consortium.cleanroom.yaml, hospital-b in its own file. */
function consortiumPolicy(): CleanRoomPolicy {
  return loadPolicyFile("stacks/consortium.cleanroom.yaml");
}

function synthConsortium(policy = consortiumPolicy()) {
  const stacks = createCleanRoomStacks(Testing.app(), policy, stacksOptionsFromPolicy(policy));
  return {
    stacks,
    platform: synthStack(stacks.platform),
    workloads: synthStack(stacks.workloads),
    parties: Object.fromEntries(Object.entries(stacks.parties).map(([name, s]) => [name, synthStack(s)])) as Record<string, SynthJson>,
  };
}

/** Every `project` attribute of every resource and data source, with its address; `${addr.project}` resolved. */
function projectsOf(json: SynthJson): { address: string; project: string }[] {
  const out: { address: string; project: string }[] = [];
  const resolve = (project: string): string => {
    const ref = /^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.project\}$/.exec(project);
    const target = ref ? json.resource?.[ref[1]]?.[ref[2]] : undefined;
    return target && typeof target.project === "string" ? resolve(target.project) : project;
  };
  for (const [kind, blocks] of [["resource", json.resource], ["data", json.data]] as const) {
    for (const [type, byId] of Object.entries(blocks ?? {})) {
      for (const [id, config] of Object.entries(byId)) {
        if (typeof config.project === "string") out.push({ address: `${kind}.${type}.${id}`, project: resolve(config.project) });
      }
    }
  }
  return out;
}

/** Every Terraform address `${…}` expressions name (resource `type.id` or `data.type.id`). */
function referencedAddresses(json: SynthJson): string[] {
  const text = JSON.stringify({ resource: json.resource, data: json.data, output: json.output, locals: json.locals });
  const found = new Set<string>();
  for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
    for (const r of m[1].matchAll(/\b(data\.[a-z0-9_]+\.[A-Za-z0-9_-]+|google_[a-z0-9_]+\.[A-Za-z0-9_-]+|[a-z]+_[a-z0-9_]+\.[A-Za-z0-9_-]+)/g)) {
      found.add(r[1]);
    }
  }
  return [...found];
}

function declaredAddresses(json: SynthJson): Set<string> {
  const out = new Set<string>();
  for (const [type, byId] of Object.entries(json.resource ?? {})) for (const id of Object.keys(byId)) out.add(`${type}.${id}`);
  for (const [type, byId] of Object.entries(json.data ?? {})) for (const id of Object.keys(byId)) out.add(`data.${type}.${id}`);
  return out;
}

const principalSets = (json: SynthJson) => iamGrants(json).filter((g) => g.member.startsWith("principalSet://"));

describe("consortium stacks", () => {
  const synth = synthConsortium();

  test("given a consortium room, when synthesized, then it yields the operator's two stacks and one stack per party, named <room>-party-<party>", () => {
    expect(synth.stacks.platform.node.id).toBe("oncology-platform");
    expect(synth.stacks.workloads.node.id).toBe("oncology-workloads");
    expect(Object.fromEntries(Object.entries(synth.stacks.parties).map(([p, s]) => [p, s.node.id]))).toEqual({
      "hospital-a": "oncology-party-hospital-a",
      "hospital-b": "oncology-party-hospital-b",
    });
  });

  test("given each party stack, then it references no other stack: no remote state, and every ${…} names a resource or data source of the stack itself", () => {
    for (const [party, json] of Object.entries(synth.parties)) {
      expect(json.data?.terraform_remote_state).toBeUndefined();
      const declared = declaredAddresses(json);
      const foreign = referencedAddresses(json).filter((a) => !declared.has(a));
      expect({ party, foreign }).toEqual({ party, foreign: [] });
      expect(Object.keys(json.resource ?? {}).length).toBeGreaterThan(0);
    }
  });

  test("given the reference check, when a party stack names an address it does not declare, then the check finds it", () => {
    const json = structuredClone(synth.parties["hospital-b"]);
    const [id] = Object.keys(json.resource!.google_storage_bucket);
    json.resource!.google_storage_bucket[id].labels = { leak: "${google_kms_crypto_key.operator_key.id}" };
    const declared = declaredAddresses(json);
    expect(referencedAddresses(json).filter((a) => !declared.has(a))).toEqual(["google_kms_crypto_key.operator_key"]);
  });

  test("given the operator's stacks, then no resource or data source is in a party's project", () => {
    for (const json of [synth.platform, synth.workloads]) {
      const inParty = projectsOf(json).filter((r) => Object.values(PROJECTS).includes(r.project));
      expect(inParty).toEqual([]);
    }
    expect(projectsOf(synth.platform).length).toBeGreaterThan(20);
  });

  test("given each party stack, then every resource and data source is in the party's own project, and its provider is the party's", () => {
    for (const [party, json] of Object.entries(synth.parties)) {
      const projects = [...new Set(projectsOf(json).map((r) => r.project))];
      expect({ party, projects }).toEqual({ party, projects: [PROJECTS[party]] });
      expect(json.provider?.google).toEqual([expect.objectContaining({ project: PROJECTS[party], region: "europe-west4" })]);
    }
  });

  test("given the operator's platform stack, then it holds no party dataset: no dataset key, stage bucket or reader of scans, pathology or outcomes", () => {
    const text = JSON.stringify(synth.platform.resource);
    expect(resources(synth.platform, "google_kms_crypto_key").map(([, c]) => c.name)).not.toEqual(
      expect.arrayContaining(["scans", "pathology", "outcomes"]),
    );
    for (const dataset of ["scans", "pathology", "outcomes"]) expect(text).not.toContain(`oncology-${dataset}-`);
    // …but the party stacks do.
    expect(JSON.stringify(synth.parties["hospital-a"].resource)).toContain("oncology-pathology-rd");
  });

  test("given a digest approved only by hospital-a, then it appears in no principal set of hospital-b's stack, and in hospital-a's", () => {
    const b = principalSets(synth.parties["hospital-b"]).map((g) => g.member);
    const a = principalSets(synth.parties["hospital-a"]).map((g) => g.member);
    expect(b.length).toBeGreaterThan(0);
    expect(b.filter((m) => m.includes(ONLY_A))).toEqual([]);
    expect(a.filter((m) => m.includes(ONLY_A)).length).toBeGreaterThan(0);
    // The shared digest: each party grants it on its own datasets, through its own pool.
    expect(b.some((m) => m.endsWith(`/attribute.image_digest/${SHARED}`))).toBe(true);
  });

  test("given each party stack, then every principal set names the party's own pools only", () => {
    for (const [party, json] of Object.entries(synth.parties)) {
      const own = new Set(Object.values(json.resource!.google_iam_workload_identity_pool).map((p: any) => p.workload_identity_pool_id));
      expect(own.has(partyPoolId("oncology", party))).toBe(true);
      const pools = [...new Set(principalSets(json).map((g) => /workloadIdentityPools\/([^/]+)\//.exec(g.member)![1]))];
      expect(pools.length).toBeGreaterThan(0);
      expect({ party, foreign: pools.filter((p) => !own.has(p)) }).toEqual({ party, foreign: [] });
      // The project number of those principal sets is the party's own project's (its data source).
      for (const g of principalSets(json)) expect(g.member).toMatch(/projects\/\$\{data\.google_project\.[A-Za-z0-9_-]+\.number\}\//);
    }
  });

  test("given each party's keys, buckets and readers, then their IAM is authoritative (one policy per resource, no additive member grant)", () => {
    for (const json of Object.values(synth.parties)) {
      for (const type of ["google_kms_crypto_key", "google_storage_bucket", "google_service_account"]) {
        expect({ type, members: resources(json, `${type}_iam_member`).length }).toEqual({ type, members: 0 });
        expect({ type, bindings: resources(json, `${type}_iam_binding`).length }).toEqual({ type, bindings: 0 });
      }
      const keyPolicies = resources(json, "google_kms_crypto_key_iam_policy").length;
      const bucketPolicies = resources(json, "google_storage_bucket_iam_policy").length;
      expect(keyPolicies).toBeGreaterThan(0);
      expect(bucketPolicies).toBeGreaterThan(0);
    }
  });

  describe("the party provider's condition, evaluated by the CEL engine", () => {
    const teeSa = manateeContract("oncology", OPERATOR).teeServiceAccountEmail;
    const conditionOf = (party: string) => {
      const providers = Object.values(synth.parties[party].resource!.google_iam_workload_identity_pool_provider) as any[];
      // The data pool's provider (a per-job pool's maps groups, not the digest).
      const dataProviders = providers.filter((p) => p.attribute_mapping["attribute.image_digest"] !== undefined);
      expect(dataProviders).toHaveLength(1);
      const provider = dataProviders[0];
      expect(provider.workload_identity_pool_provider_id).toBe("attestation-verifier");
      expect(provider.attribute_mapping["attribute.image_digest"]).toBe("assertion.submods.container.image_digest");
      expect(provider.oidc.allowed_audiences).toEqual(["https://sts.googleapis.com"]);
      return provider.attribute_condition as string;
    };

    test.each(Object.keys(PROJECTS))("given %s's provider, when the operator's TEE presents a production token, then it is admitted", (party) => {
      expect(evaluateAttributeCondition(conditionOf(party), productionTdxClaims({ project: OPERATOR, serviceAccount: teeSa, imageDigest: SHARED })).allowed).toBe(true);
    });

    test.each(Object.keys(PROJECTS))("given %s's provider, when a token comes from another project or another service account, then it is refused", (party) => {
      const condition = conditionOf(party);
      const otherProject = productionTdxClaims({ project: PROJECTS[party], serviceAccount: teeSa });
      const otherSa = productionTdxClaims({ project: OPERATOR, serviceAccount: `attacker@${OPERATOR}.iam.gserviceaccount.com` });
      const partyOwnSa = productionTdxClaims({ project: PROJECTS[party], serviceAccount: manateeContract("oncology", PROJECTS[party]).teeServiceAccountEmail });
      for (const claims of [otherProject, otherSa, partyOwnSa]) expect(evaluateAttributeCondition(condition, claims).allowed).toBe(false);
    });
  });

  test("given hospital-b's dataset with an approver key, then its per-job pool is in hospital-b's project and its condition pins the operator's TEEs", () => {
    const json = synth.parties["hospital-b"];
    const jobPool = (Object.values(json.resource!.google_iam_workload_identity_pool_provider) as any[]).find((p) =>
      String(p.attribute_condition).includes("image_signatures"),
    );
    expect(jobPool.project).toBe(PROJECTS["hospital-b"]);
    expect(jobPool.attribute_condition).toContain(`assertion.submods.gce.project_id == '${OPERATOR}'`);
  });

  test("given a party stack, then Cloud KMS data access is audited in the party's project", () => {
    for (const [party, json] of Object.entries(synth.parties)) {
      const audit = resources(json, "google_project_iam_audit_config").map(([, c]) => c);
      expect(audit).toEqual([
        expect.objectContaining({
          project: PROJECTS[party],
          service: "cloudkms.googleapis.com",
          audit_log_config: expect.arrayContaining([{ log_type: "DATA_READ" }, { log_type: "DATA_WRITE" }]),
        }),
      ]);
    }
  });

  test("given the guardrails, then every stack of the consortium passes them with no error", () => {
    const policy = consortiumPolicy();
    const stacks = createCleanRoomStacks(Testing.app(), policy, { ...stacksOptionsFromPolicy(policy), checks: false });
    for (const stack of [stacks.platform, stacks.workloads, ...Object.values(stacks.parties)]) {
      Testing.synth(stack);
      const errors = new CleanRoomChecks({ policy }).findings(stack).filter((f) => f.level === "error");
      expect({ stack: stack.node.id, errors: errors.map((f) => f.ruleId) }).toEqual({ stack: stack.node.id, errors: [] });
    }
  });

  test("given a single-project room, then createCleanRoomStacks returns no party stack", () => {
    const { parties: _p, ...single } = consortiumPolicy();
    const policy = { ...single, datasets: single.datasets.map(({ party: _d, ...d }) => d), approvals: single.approvals.map(({ party: _a, ...a }) => a) };
    const stacks = createCleanRoomStacks(Testing.app(), policy, stacksOptionsFromPolicy(policy));
    expect(stacks.parties).toEqual({});
  });
});
