/**
 * Administrators' paths to stage-2 data (issue 10): each attack is one change to the example's
 * synthesized platform stack, and `manatee check --policy` must refuse it with exit 1 and the
 * rule id; every shipped config passes unchanged.
 */
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { run } from "../../lib/cli/check";
import { checkContext } from "../../lib/checks/context";
import { checkTerraform } from "../../lib/checks/engine";
import { auditRetentionLocked, auditSinkPinned } from "../../lib/checks/rules/audit-trail";
import { loadPolicyFile } from "../../lib/policy/load";
import { CleanRoomPolicy } from "../../lib/policy/model";
import { examplePlatform } from "./harness";

const STACKS = resolve(__dirname, "../../stacks");
const EXAMPLE = join(STACKS, "example.cleanroom.yaml");
const dir = mkdtempSync(join(tmpdir(), "manatee-admin-paths-"));
const policy = loadPolicyFile(EXAMPLE);
let pristine: any;
beforeAll(() => {
  pristine = examplePlatform(policy);
});

async function manateeCheck(json: unknown, policyFile = EXAMPLE) {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(json));
  let stdout = "";
  const code = await run(["--config", file, "--policy", policyFile], { stdout: { write: (c: string) => (stdout += c) }, stderr: { write: () => true } });
  return { code, stdout };
}

/** The one resource of `type` whose address contains `part`. */
function the(json: any, type: string, part: string): any {
  const hits = Object.entries(json.resource[type] ?? {}).filter(([name]) => name.includes(part));
  expect(hits).toHaveLength(1);
  return hits[0][1];
}
/** In an authoritative policy's document, the data pool's principal sets now name another pool. */
function movePrincipalSetsToForeignPool(document: any): void {
  const bindings: any[] = Array.isArray(document.binding) ? document.binding : [document.binding];
  let moved = 0;
  for (const b of bindings) {
    b.members = b.members.map((m: string) => (m.includes("/insurance-study-tee/") ? (moved++, m.replace("/insurance-study-tee/", "/mallory-pool/")) : m));
  }
  expect(moved).toBeGreaterThan(0);
}
const dataProvider = (j: any) => the(j, "google_iam_workload_identity_pool_provider", "room_data_pool_provider");
const addResource = (j: any, type: string, name: string, config: object) => {
  j.resource[type] = { ...(j.resource[type] ?? {}), [name]: config };
};
const TEE_SA = "${google_service_account.room_data_tee_sa_EE055B4F.name}";
const MALLORY = "user:mallory@example.org";

const ATTACKS: [string, string, (j: any) => void][] = [
  ["a second provider in the data pool (with the full compiled condition)", "MCR-WIF3", (j) => {
    addResource(j, "google_iam_workload_identity_pool_provider", "extra", { ...dataProvider(j), workload_identity_pool_provider_id: "extra" });
  }],
  ["the project clause removed", "MCR-WIF4", (j) => {
    dataProvider(j).attribute_condition = dataProvider(j).attribute_condition.replace(" && assertion.submods.gce.project_id == 'acme-clean-room'", "");
  }],
  ["the project clause widened to another project", "MCR-WIF4", (j) => {
    dataProvider(j).attribute_condition = dataProvider(j).attribute_condition.replace(
      "assertion.submods.gce.project_id == 'acme-clean-room'",
      "assertion.submods.gce.project_id in ['acme-clean-room', 'mallory-project']",
    );
  }],
  ["the TEE service-account clause removed", "MCR-WIF4", (j) => {
    dataProvider(j).attribute_condition = dataProvider(j).attribute_condition.replace(/ && '[^']+' in assertion\.google_service_accounts/, "");
  }],
  ["the debug clause removed", "MCR-WIF1", (j) => {
    dataProvider(j).attribute_condition = dataProvider(j).attribute_condition.replace(" && assertion.dbgstat == 'disabled-since-boot'", "");
  }],
  ["the tee-cmd clause removed", "MCR-WIF4", (j) => {
    dataProvider(j).attribute_condition = dataProvider(j).attribute_condition.replace(/ && \(!has\(assertion\.submods\.container\.cmd_override\)[^)]*\)[^)]*\)/, "");
  }],
  ["the tee-env clause loosened to any variable", "MCR-WIF4", (j) => {
    dataProvider(j).attribute_condition = dataProvider(j).attribute_condition.replace(
      "size(assertion.submods.container.env_override) == 0",
      "size(assertion.submods.container.env_override) >= 0",
    );
  }],
  ["the provider pointed at another issuer", "MCR-WIF4", (j) => {
    dataProvider(j).oidc.issuer_uri = "https://accounts.google.com";
  }],
  ["the provider's audience changed", "MCR-WIF4", (j) => {
    dataProvider(j).oidc.allowed_audiences = ["https://mallory.example.org"];
  }],
  ["attribute.image_digest mapped from another claim", "MCR-WIF4", (j) => {
    dataProvider(j).attribute_mapping["attribute.image_digest"] = "assertion.sub";
  }],
  ["a dataset key grant to a principal set of a pool the room does not declare", "MCR-KMS1", (j) => {
    movePrincipalSetsToForeignPool(the(j.data ? { resource: j.data } : j, "google_iam_policy", "insurance_key_iam_document"));
  }],
  ["a stage-2 bucket grant to a principal set of a pool the room does not declare", "MCR-GCS1", (j) => {
    movePrincipalSetsToForeignPool(the(j.data ? { resource: j.data } : j, "google_iam_policy", "insurance_stage2_iam_document"));
  }],
  ...["roles/owner", "roles/iam.securityAdmin", "roles/resourcemanager.projectIamAdmin", "roles/iam.workloadIdentityPoolAdmin", "roles/cloudkms.admin", "roles/storage.admin"].map(
    (role): [string, string, (j: any) => void] => [`${role} for someone who is not an operator`, "MCR-IAM4", (j) => {
      addResource(j, "google_project_iam_member", "rogue", { project: "acme-clean-room", role, member: MALLORY });
    }],
  ),
  ["a custom role with setIamPolicy for someone who is not an operator", "MCR-IAM4", (j) => {
    addResource(j, "google_project_iam_custom_role", "rogue", { project: "acme-clean-room", role_id: "rogue", title: "r", permissions: ["storage.buckets.setIamPolicy"] });
    addResource(j, "google_project_iam_member", "rogue", { project: "acme-clean-room", role: "${google_project_iam_custom_role.rogue.name}", member: MALLORY });
  }],
  ["token creator on the TEE service account", "MCR-IAM5", (j) => {
    addResource(j, "google_service_account_iam_member", "rogue", { service_account_id: TEE_SA, role: "roles/iam.serviceAccountTokenCreator", member: MALLORY });
  }],
  ["key admin on a reader service account", "MCR-IAM5", (j) => {
    addResource(j, "google_service_account_iam_member", "rogue", {
      service_account_id: "${google_service_account.room_data_datasets_claims_reader_7AC90A87.name}",
      role: "roles/iam.serviceAccountKeyAdmin",
      member: MALLORY,
    });
  }],
  ["actAs on the TEE service account for the JupyterLab account", "MCR-IAM5", (j) => {
    addResource(j, "google_service_account_iam_member", "rogue", {
      service_account_id: TEE_SA,
      role: "roles/iam.serviceAccountUser",
      member: "${google_service_account.room_job-identity_JupyterServiceAccount_480863F7.member}",
    });
  }],
  ["signer rights on the receipt key for the job service", "MCR-KMS2", (j) => {
    addResource(j, "google_kms_crypto_key_iam_member", "rogue", {
      crypto_key_id: "${google_kms_crypto_key.room_verifier_receipt-key_DD164762.id}",
      role: "roles/cloudkms.signer",
      member: "${google_service_account.room_job-identity_JobServiceAccount_F60CE1C9.member}",
    });
  }],
  ["the launcher's condition dropped", "MCR-JOB1", (j) => {
    delete the(j, "google_project_iam_member", "TeeLauncher").condition;
  }],
  ["the launcher's condition widened with || true", "MCR-JOB1", (j) => {
    const c = the(j, "google_project_iam_member", "TeeLauncher").condition;
    c.expression = `${c.expression} || true`;
  }],
  ["the launcher also pushes job images", "MCR-JOB3", (j) => {
    addResource(j, "google_artifact_registry_repository_iam_member", "rogue", {
      repository: "${google_artifact_registry_repository.room_registry_user-images_repository_11CF2EBD.name}",
      role: "roles/artifactregistry.writer",
      member: "${google_service_account.room_job-identity_JobServiceAccount_F60CE1C9.member}",
    });
  }],
  ["the build identity may launch job VMs", "MCR-JOB3", (j) => {
    const launcher = the(j, "google_project_iam_member", "TeeLauncher");
    addResource(j, "google_project_iam_member", "rogue", { ...launcher, member: "${google_service_account.room_job-identity_BuilderServiceAccount_DF6AB7AD.member}" });
  }],
  ["an executor base named by tag in the job service's configuration", "MCR-JOB2", (j) => {
    addResource(j, "kubernetes_config_map_v1", "rogue", {
      metadata: { name: "manatee-job-service-config" },
      data: { "job-service.json": JSON.stringify({ executorBases: ["sha256:" + "a".repeat(64)], defaultExecutorBase: "us-docker.pkg.dev/p/r/executor:latest" }) },
    });
  }],
];

describe("given the example platform stack and manatee check --policy", () => {
  test.each(ATTACKS)("when %s, then exit 1 with %s", async (_what, ruleId, tamper) => {
    const json = structuredClone(pristine);
    tamper(json);
    const r = await manateeCheck(json);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^ERROR\\s+${ruleId}\\s`, "m"));
  });

  test("when unmodified, then exit 0", async () => {
    const r = await manateeCheck(pristine);
    expect(r.stdout).not.toMatch(/^(ERROR|WARNING)/m);
    expect(r.code).toBe(0);
  });

  test("when an operator listed in the policy holds roles/owner, then MCR-IAM4 does not report it", async () => {
    const file = join(dir, "operators.cleanroom.yaml");
    writeFileSync(file, `${require("node:fs").readFileSync(EXAMPLE, "utf8")}\noperators: ["group:platform-admins@example.org"]\n`);
    const json = structuredClone(pristine);
    addResource(json, "google_project_iam_member", "ops", { project: "acme-clean-room", role: "roles/owner", member: "group:platform-admins@example.org" });
    const r = await manateeCheck(json, file);
    expect(r.stdout).not.toContain("MCR-IAM4");
  });
});

describe("every shipped config", () => {
  const configs = readdirSync(STACKS).filter((f) => f.endsWith(".cleanroom.yaml"));
  test.each(configs)("given %s, when its platform stack is synthesized and checked, then exit 0", async (name) => {
    const file = join(STACKS, name);
    const p: CleanRoomPolicy = loadPolicyFile(file);
    const r = await manateeCheck(examplePlatform(p), file);
    expect(r.stdout).not.toMatch(/^ERROR/m);
    expect(r.code).toBe(0);
  });
});

describe("MCR-AUD1/AUD2 audit trail", () => {
  const audit = (json: unknown, p: CleanRoomPolicy = policy) =>
    checkTerraform(json as never, checkContext({ policy: p, now: new Date() }), [auditRetentionLocked, auditSinkPinned]).map((f) => `${f.level} ${f.ruleId}`);
  // The verifier construct locks the audit bucket and pins the sink's log name by default.
  const hardened = () => structuredClone(pristine);

  test("given the example (a locked audit bucket and a sink pinned to one log name), then no finding", () => {
    expect(the(pristine, "google_storage_bucket", "room_verifier_audit").retention_policy.is_locked).toBe(true);
    expect(audit(hardened())).toEqual([]);
  });

  test("given the retention unlocked, then an error; with audit.lockRetention: false, a warning", () => {
    const j = hardened();
    the(j, "google_storage_bucket", "room_verifier_audit").retention_policy.is_locked = false;
    expect(audit(j)).toEqual(["error MCR-AUD1"]);
    expect(audit(j, { ...policy, audit: { lockRetention: false } })).toEqual(["warning MCR-AUD1"]);
  });

  test.each([
    ["no logName clause", (f: string) => f.replace(/^logName="[^"]+" AND /, "")],
    ["logName under OR", (f: string) => f.replace(" AND ", " OR ")],
    ["a wildcard-free log of another project", (f: string) => f.replace("projects/acme-clean-room/", "projects/mallory/")],
  ])("given a sink filter with %s, then MCR-AUD2", (_what, change) => {
    const j = hardened();
    const sink = the(j, "google_logging_project_sink", "audit-sink");
    sink.filter = change(sink.filter);
    expect(audit(j)).toEqual(["error MCR-AUD2"]);
  });
});
