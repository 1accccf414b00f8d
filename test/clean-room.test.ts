/**
 * The whole clean room: both stacks synthesized from the example policy, checked for the
 * security settings issue 3 names, for cross-stack wiring, and for references that resolve.
 */
import * as path from "node:path";
import { Testing } from "cdktf";
import Ajv from "ajv";
import { parse as parseYaml } from "yaml";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { examplePolicy, iamGrants, resourceConfigs, resources, SynthJson, synthStack } from "./util";
import { plaintextSecrets, walkStrings } from "./secret-scan";
import { dataPlaneNames, manateeContract, platformNames } from "../lib/policy/names";
import { CleanRoomPolicy } from "../lib/policy/model";
import { compileAttributeCondition, compileJobApprovalCondition } from "../lib/policy/condition";
import { datasetMembers } from "../lib/policy/members";
import { CLEAN_ROOM_APIS } from "../lib/constructs/platform/apis";

const VERIFIER_BUILD = path.join(__dirname, "fixtures", "verifier-build");
// The job service bundle's content names its image (tag = content hash): a fixture keeps the snapshot stable.
const JOB_SERVICE_BUILD = path.join(__dirname, "fixtures", "job-service-build");

/** Both stacks of `policy` from its config, prepared as `cdktf synth` does first (cross-stack outputs and remote state). */
function roomStacks(policy: CleanRoomPolicy, checks: boolean) {
  const options = stacksOptionsFromPolicy(policy);
  const stacks = createCleanRoomStacks(Testing.app(), policy, {
    ...options,
    platform: { ...options.platform, verifier: { sourceDir: VERIFIER_BUILD } },
    workloads: { ...options.workloads, imageSources: { jobService: JOB_SERVICE_BUILD } },
    checks,
  });
  stacks.platform.prepareStack();
  stacks.workloads.prepareStack();
  return stacks;
}

function synthRoom() {
  const policy = examplePolicy();
  const stacks = roomStacks(policy, false);
  return {
    policy,
    stacks,
    platform: synthStack(stacks.platform),
    workloads: synthStack(stacks.workloads),
  };
}

describe("CleanRoom: the example room in two stacks", () => {
  let room: ReturnType<typeof synthRoom>;
  beforeAll(() => {
    room = synthRoom();
  });

  describe("given the platform stack", () => {
    test("then the GKE cluster has private nodes, Workload Identity and no public endpoint", () => {
      const [cluster] = resourceConfigs(room.platform, "google_container_cluster");
      expect(cluster.private_cluster_config.enable_private_nodes).toBe(true);
      expect(cluster.workload_identity_config.workload_pool).toBe("acme-clean-room.svc.id.goog");
      expect(cluster.datapath_provider).toBe("ADVANCED_DATAPATH");
      expect(cluster.deletion_protection).toBe(true);
      for (const pool of resourceConfigs(room.platform, "google_container_node_pool")) {
        expect(pool.node_config.workload_metadata_config.mode).toBe("GKE_METADATA");
        expect(pool.node_config.shielded_instance_config.enable_secure_boot).toBe(true);
      }
    });

    test("then no bucket is public and every bucket is uniform, PAP-enforced and CMEK-encrypted", () => {
      const buckets = resourceConfigs(room.platform, "google_storage_bucket");
      expect(buckets.length).toBeGreaterThanOrEqual(2 * 3 + 1);
      for (const b of buckets) {
        expect(b.uniform_bucket_level_access).toBe(true);
        // The one exception: the verifier's receipt JWKS bucket is publicly readable (test/checks/public-jwks.test.ts).
        expect(b.public_access_prevention).toBe(b.labels?.component === "receipt-jwks" ? "inherited" : "enforced");
      }
      expect(buckets.filter((b) => b.public_access_prevention !== "enforced")).toHaveLength(1);
      const data = buckets.filter((b) => ["stage1", "stage2", "hub"].includes(b.labels?.component));
      for (const b of data) expect(b.encryption?.default_kms_key_name).toMatch(/^\$\{google_kms_crypto_key\./);
      const jwksBucket = resources(room.platform, "google_storage_bucket").find(([, b]) => b.labels?.component === "receipt-jwks")![0];
      for (const g of [...iamGrants(room.platform), ...iamGrants(room.workloads)]) {
        if (g.member === "allUsers" && g.role === "roles/storage.objectViewer" && g.config.bucket === `\${google_storage_bucket.${jwksBucket}.name}`) continue;
        expect(g.member).not.toMatch(/^(allUsers|allAuthenticatedUsers)$/);
        expect(g.member).not.toMatch(/workloadIdentityPools\/[^/]+\/\*$/);
      }
    });

    test("then no clean-room identity holds a project-wide storage, KMS, owner or editor role", () => {
      const projectRoles = resourceConfigs(room.platform, "google_project_iam_member").map((m) => m.role);
      expect(projectRoles.filter((r: string) => /^roles\/(storage\.|cloudkms\.|owner$|editor$)/.test(r))).toEqual([]);
    });

    test("then the hub bucket is the job service's workspace: it reads and writes, its builder only reads, data owners read review records only", () => {
      const contract = manateeContract(room.policy.name, room.policy.project);
      // The build buckets are hardened like the hub (component "hub") and say what they hold in `use`.
      const hub = resources(room.platform, "google_storage_bucket").find(([, b]) => b.labels?.component === "hub" && !b.labels?.use);
      expect(hub?.[1].name).toBe(contract.hubBucket);
      const names = platformNames(room.policy);
      const hubGrants = iamGrants(room.platform).filter(
        (g) => g.type.startsWith("google_storage_bucket_iam_") && g.config.bucket === `\${google_storage_bucket.${hub?.[0]}.name}`,
      );
      const accountOf = (member: string) =>
        room.platform.resource?.google_service_account?.[/^\$\{google_service_account\.([^.]+)\.member\}$/.exec(member)?.[1] ?? ""]?.account_id;
      expect(hubGrants.map((g) => [accountOf(g.member) ?? g.member, g.role, g.config.condition?.expression ?? null]).sort()).toEqual(
        [
          [names.jobServiceSaId, "roles/storage.objectUser", null],
          ["dcr-insurance-study-build", "roles/storage.objectViewer", null],
          // The owner reviews jobs (manatee jobs show): the review records, not the workspaces.
          ["user:data-owner@example.org", "roles/storage.objectViewer", `resource.name.startsWith("projects/_/buckets/${contract.hubBucket}/objects/reviews/")`],
        ].sort(),
      );
    });

    test("then the workload identity provider carries the compiled condition and stage-2 keys open only to approved images", () => {
      // Each provider by the pool it belongs to: the room's pool and, per dataset with an approver key fingerprint, a job pool.
      const poolIdOf = (ref: string) =>
        room.platform.resource?.google_iam_workload_identity_pool?.[/^\$\{google_iam_workload_identity_pool\.([^.]+)\.workload_identity_pool_id\}$/.exec(ref)?.[1] ?? ""]
          ?.workload_identity_pool_id;
      const providers = new Map(
        resourceConfigs(room.platform, "google_iam_workload_identity_pool_provider").map((p) => [poolIdOf(p.workload_identity_pool_id), p] as const),
      );
      const names = dataPlaneNames(room.policy);
      expect([...providers.keys()].sort()).toEqual([names.poolId, names.jobPoolId("insurance")].sort());
      expect(providers.get(names.poolId)!.attribute_condition).toBe(compileAttributeCondition(room.policy));
      expect(providers.get(names.jobPoolId("insurance"))!.attribute_condition).toBe(compileJobApprovalCondition(room.policy, "insurance"));
      const decrypters = iamGrants(room.platform)
        .filter((g) => g.type.startsWith("google_kms_crypto_key_iam_") && g.role === "roles/cloudkms.cryptoKeyDecrypter")
        .map((g) => g.member.replace(/\$\{data\.google_project\.[^}]+\.number\}/, "N"));
      const expected = datasetMembers(room.policy, "insurance", { projectNumber: "N", poolId: "x" }).map((m) =>
        m.member.replace("workloadIdentityPools/x/", ""),
      );
      // insurance is direct: its key's decrypters are exactly its approved images
      for (const m of expected) {
        expect(decrypters.some((d) => d.replace(/workloadIdentityPools\/[^/]+\//, "") === m)).toBe(true);
      }
    });

    test("then every API the room needs is enabled, including those ManaTEE's docs forget", () => {
      const enabled = resourceConfigs(room.platform, "google_project_service").map((s) => s.service);
      for (const api of ["artifactregistry.googleapis.com", "iamcredentials.googleapis.com", "sts.googleapis.com", "confidentialcomputing.googleapis.com"]) {
        expect(enabled).toContain(api);
      }
      expect(enabled.length).toBeGreaterThanOrEqual(Object.keys(CLEAN_ROOM_APIS).length);
    });

    test("then the job records live in Firestore, which only the job service may use", () => {
      const [[saId]] = resources(room.platform, "google_service_account").filter(([, sa]) => sa.account_id === platformNames(room.policy).jobServiceSaId);
      const [db] = resourceConfigs(room.platform, "google_firestore_database");
      expect(db).toMatchObject({ type: "FIRESTORE_NATIVE", location_id: room.policy.region, delete_protection_state: "DELETE_PROTECTION_ENABLED" });
      const users = resourceConfigs(room.platform, "google_project_iam_member").filter((g) => g.role === "roles/datastore.user");
      expect(users.map((g) => [g.member, g.condition.expression])).toEqual([
        [`\${google_service_account.${saId}.member}`, `resource.name == "projects/${room.policy.project}/databases/${db.name}"`],
      ]);
    });

    test("then there is no Cloud SQL instance and no password anywhere", () => {
      expect(resources(room.platform, "google_sql_database_instance")).toEqual([]);
      expect(resources(room.platform, "google_sql_user")).toEqual([]);
      expect(JSON.stringify(room.platform)).not.toMatch(/"password"/);
    });

    test("then the room's outputs are declared", () => {
      const outputs = Object.keys(room.platform.output ?? {});
      for (const o of ["cluster_name", "cluster_endpoint", "hub_bucket", "workload_identity_provider", "service_images_registry", "user_images_registry", "verifier_url", "receipts_jwks_url"]) {
        expect(outputs).toContain(o);
      }
      expect(outputs).toContain("dataset_insurance_stage2_bucket");
      // claims is an impersonation dataset: its workloads need the reader to impersonate; insurance (direct) has none
      expect(outputs).toContain("dataset_claims_readers");
      expect(outputs).not.toContain("dataset_insurance_readers");
      expect(room.platform.output?.dataset_claims_readers.value).toEqual([
        expect.stringMatching(/^\$\{google_service_account\.[^.]+\.email\}$/),
      ]);
    });
  });

  describe("given the workloads stack", () => {
    test("then the providers come from the platform stack's cluster through remote state, not a kubeconfig", () => {
      const k8s = room.workloads.provider?.kubernetes?.[0];
      expect(k8s.host).toMatch(/\$\{data\.terraform_remote_state\./);
      expect(k8s.token).toMatch(/\$\{data\.google_client_config\./);
      expect(JSON.stringify(room.workloads)).not.toMatch(/config_path|kubeconfig/);
    });

    test("then JupyterHub uses a real authenticator, is not a public LoadBalancer and its values validate against the 4.4.0 schema", () => {
      const [release] = resourceConfigs(room.workloads, "helm_release");
      expect(release.chart).toBe("jupyterhub");
      expect(release.version).toBe("4.4.0");
      const values = parseYaml(release.values[0]);
      expect(values.hub.config.JupyterHub.authenticator_class).not.toMatch(/dummy/i);
      expect(values.proxy.service.type).toBe("ClusterIP");
      expect(values.singleuser.extraEnv.EXECUTION_STAGE).toBe("1");
      const schema = parseYaml(
        require("node:fs").readFileSync(path.join(__dirname, "fixtures", "z2jh", "values.schema.4.4.0.yaml"), "utf8"),
      );
      const defaults = parseYaml(require("node:fs").readFileSync(path.join(__dirname, "fixtures", "z2jh", "values.4.4.0.yaml"), "utf8"));
      const merged = deepMerge(defaults, values);
      const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
      expect(validate.errors ?? []).toEqual([]);
      expect(validate(merged)).toBe(true);
    });

    test("then no plaintext secret is synthesized in either stack", () => {
      expect(plaintextSecrets(room.platform)).toEqual([]);
      expect(plaintextSecrets(room.workloads)).toEqual([]);
    });
  });

  describe("given both synthesized stacks", () => {
    test("then every ${...} reference points at a resource, data source, variable or output that exists", () => {
      const problems = [
        ...danglingReferences(room.platform, {}),
        ...danglingReferences(room.workloads, { remoteOutputs: Object.keys(room.platform.output ?? {}) }),
      ];
      expect(problems).toEqual([]);
    });

    test("then they match the snapshots (paired with the assertions above)", () => {
      const strip = (j: SynthJson) => ({ ...j, terraform: undefined });
      expect(strip(room.platform)).toMatchSnapshot("platform");
      expect(strip(room.workloads)).toMatchSnapshot("workloads");
    });
  });
});

function deepMerge(base: any, over: any): any {
  if (over === null || typeof over !== "object" || Array.isArray(over)) return over;
  const out: any = { ...(base && typeof base === "object" && !Array.isArray(base) ? base : {}) };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(out[k], v);
  return out;
}

const TERRAFORM_KEYWORDS = new Set(["var", "local", "module", "data", "path", "terraform", "count", "each", "self"]);

/**
 * References inside `${...}` that point nowhere: `type.name`, `data.type.name`,
 * `local.x`, `var.x`, and remote-state `outputs.<name>` of the other stack.
 */
export function danglingReferences(json: SynthJson, opts: { remoteOutputs?: string[] }): string[] {
  const problems: string[] = [];
  for (const [where, value] of walkStrings(json)) {
    for (const match of value.matchAll(/\$\{([^}]*)\}/g)) {
      const expr = match[1].replace(/"(?:[^"\\]|\\.)*"/g, '""');
      for (const ref of expr.matchAll(/(?<![\w.])(data\.)?([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)((?:\.[\w-]+)*)/g)) {
        const [, isData, first, second, rest] = ref;
        const at = `${where.join(".")}: ${ref[0]}`;
        if (isData) {
          if (!json.data?.[first]?.[second]) problems.push(`${at} (no data source)`);
          else if (first === "terraform_remote_state") {
            const output = rest.split(".")[2];
            if (output && opts.remoteOutputs && !opts.remoteOutputs.includes(output)) problems.push(`${at} (no such output)`);
          }
        } else if (first === "local") {
          if (!json.locals || !(second in json.locals)) problems.push(`${at} (no local)`);
        } else if (first === "var") {
          if (!(json as any).variable?.[second]) problems.push(`${at} (no variable)`);
        } else if (!TERRAFORM_KEYWORDS.has(first) && first.includes("_")) {
          if (!json.resource?.[first]?.[second]) problems.push(`${at} (no resource)`);
        }
      }
    }
  }
  return problems;
}

describe("CleanRoom: guardrails over the example room", () => {
  test("given both stacks with the checks on, when synthesized, then no rule reports an error or warning", () => {
    const stacks = roomStacks(examplePolicy(), true);
    Testing.synth(stacks.platform);
    Testing.synth(stacks.workloads);
    const annotations = [stacks.platform, stacks.workloads].flatMap((s) =>
      s.node
        .findAll()
        .flatMap((c) => c.node.metadata.filter((m) => m.type === "@cdktf/error" || m.type === "@cdktf/warn").map((m) => `${c.node.path}: ${m.data}`)),
    );
    expect(annotations).toEqual([]);
  });
});

describe("stacks/config: deployment settings from the config", () => {
  test("given a config without a jupyterhub section, then the workloads stack refuses with the field and the fix", () => {
    const { jupyterhub: _omit, ...rest } = examplePolicy();
    expect(() => stacksOptionsFromPolicy(rest, "room.yaml")).toThrow(
      'room.yaml: jupyterhub: the workloads stack needs a "jupyterhub" section with at least "authenticator" ' +
        "(e.g. type: google, clientId, clientSecret, callbackUrl, hostedDomains); see stacks/example.cleanroom.yaml.",
    );
  });

  test("given the example config, then the hub gets the Google authenticator, its users and a ClusterIP proxy", () => {
    const options = stacksOptionsFromPolicy(examplePolicy());
    expect(options.workloads.jupyterhub).toMatchObject({
      authenticator: {
        type: "google",
        clientSecret: { secretName: "jupyterhub-oauth", key: "client-secret" },
        hostedDomains: ["example.org"],
      },
      nonProduction: false,
      researchers: { "alice@example.org": "alice", "bob@example.org": "bob" },
      exposure: { type: "cluster-ip" },
    });
  });

  test("given cluster and database sections, then they reach the constructs' props", () => {
    const policy = { ...examplePolicy(), cluster: { authorizedNetworks: [{ cidr: "10.8.0.0/24", name: "vpn" }], publicEndpoint: false, deletionProtection: false }, database: { deletionProtection: false } };
    const options = stacksOptionsFromPolicy(policy);
    expect(options.platform?.cluster).toEqual({
      controlPlane: { authorizedNetworks: [{ cidrBlock: "10.8.0.0/24", displayName: "vpn" }], publicEndpoint: false },
      deletionProtection: false,
    });
    expect(options.platform?.database).toEqual({ deletionProtection: false });
  });
});

describe("stacks: Terraform state", () => {
  function synthBoth(policy = examplePolicy()) {
    const stacks = roomStacks(policy, false);
    return { platform: synthStack(stacks.platform), workloads: synthStack(stacks.workloads) };
  }

  test("given no backend in the config, then local state sits in the project root by a machine-independent path the workloads stack reads", () => {
    const { platform, workloads } = synthBoth();
    const path = "../../../terraform.insurance-study-platform.tfstate";
    expect(platform.terraform.backend.local.path).toBe(path);
    const remote = Object.values(workloads.data?.terraform_remote_state ?? {}) as any[];
    expect(remote).toHaveLength(1);
    expect(remote[0]).toMatchObject({ backend: "local", config: { path } });
    expect(JSON.stringify([platform, workloads])).not.toContain(process.cwd());
  });

  test("given a GCS backend in the config, then both stacks keep state there under their own prefix", () => {
    const policy = { ...examplePolicy(), backend: { bucket: "acme-tf-state", prefix: "manatee/insurance-study" } };
    const { platform, workloads } = synthBoth(policy);
    expect(platform.terraform.backend.gcs).toEqual({ bucket: "acme-tf-state", prefix: "manatee/insurance-study/platform" });
    expect(workloads.terraform.backend.gcs).toEqual({ bucket: "acme-tf-state", prefix: "manatee/insurance-study/workloads" });
    const remote = Object.values(workloads.data?.terraform_remote_state ?? {}) as any[];
    expect(remote[0]).toMatchObject({ backend: "gcs", config: { bucket: "acme-tf-state", prefix: "manatee/insurance-study/platform" } });
  });
});
