/** The per-job approval guardrails (MCR-WIF2, MCR-APV1, and MCR-KMS1/GCS1 on job pools), on tampered synthesized JSON. */
import { checkContext } from "../../lib/checks/context";
import { checkTerraform } from "../../lib/checks/engine";
import { Finding } from "../../lib/checks/model";
import { CleanRoomDataPlane } from "../../lib/constructs/data-plane/datasets";
import { jobApprovalConditionClauses } from "../../lib/policy/condition";
import { SynthJson, synthWith } from "../util";
import { jobPolicy } from "../policy/job-fixtures";

const policy = jobPolicy();
const JOB_SERVICE = "serviceAccount:dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com";
const pristine: SynthJson = synthWith((stack) => {
  const plane = new CleanRoomDataPlane(stack, "data", { policy });
  plane.grantSignatureRead(JOB_SERVICE);
  plane.grantSdkStage1Access("serviceAccount:jupyter-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com");
});

const copy = (): any => structuredClone(pristine);
const run = (json: any, withPolicy = true): Finding[] =>
  checkTerraform(json, withPolicy ? checkContext({ policy, now: new Date("2026-01-01T00:00:00Z") }) : checkContext({ project: policy.project, now: new Date("2026-01-01T00:00:00Z") }));
const errors = (findings: Finding[], rule?: string) => findings.filter((f) => f.level === "error" && (!rule || f.ruleId === rule));

/** The job provider of `dataset` in a JSON copy. */
function jobProvider(json: any, dataset: string): any {
  return Object.entries(json.resource.google_iam_workload_identity_pool_provider).find(([id]) => id.includes(`datasets_${dataset}_jobs_provider`))![1];
}
const keyId = (json: any, dataset: string, component: string) =>
  Object.entries(json.resource.google_kms_crypto_key).find(([, k]: any) => k.labels.dataset === dataset && k.labels.component === component)![0];
const bucketId = (json: any, dataset: string, component: string) =>
  Object.entries(json.resource.google_storage_bucket).find(([, b]: any) => b.labels.dataset === dataset && b.labels.component === component)![0];
const repoId = (json: any, dataset: string) =>
  Object.entries(json.resource.google_artifact_registry_repository).find(([, r]: any) => r.labels.dataset === dataset)![0];
const projectNumber = () => `\${data.google_project.${Object.keys((pristine as any).data.google_project)[0]}.number}`;
const poolSet = (pool: string, tail: string) => `principalSet://iam.googleapis.com/projects/${projectNumber()}/locations/global/workloadIdentityPools/${pool}/${tail}`;

function addIam(json: any, type: string, id: string, config: Record<string, unknown>) {
  json.resource[type] ??= {};
  json.resource[type][id] = config;
}

describe("the job path's guardrails on synthesized JSON", () => {
  test("given the data plane as synthesized, then no rule reports an error", () => {
    expect(errors(run(pristine)).map((f) => `${f.ruleId} ${f.message}`)).toEqual([]);
    // Without the policy, owners are unknown (MCR-KMS1 flags their encrypt-only grant), but the job path is clean.
    const withoutPolicy = errors(run(pristine, false));
    expect(withoutPolicy.filter((f) => /WIF2|APV1/.test(f.ruleId) || /job-approved/.test(f.message))).toEqual([]);
  });

  const clause = (pattern: RegExp) => jobApprovalConditionClauses(policy, "insurance").filter((c) => pattern.test(c.cel)).map((c) => c.cel);
  const cases: [string, RegExp, RegExp][] = [
    ["the signature clauses", /image_signatures/, /image_signatures/],
    ["the cmd_override clause", /cmd_override/, /cmd_override/],
    ["the env_override clause", /env_override/, /env_override/],
    ["the restart clause", /restart_policy/, /restart_policy/],
    ["the project clause", /project_id/, /project_id/],
    ["the TEE service account clause", /google_service_accounts/, /google_service_accounts/],
    ["the debug clauses", /STABLE|dbgstat/, /debug/],
  ];
  test.each(cases)("given the job provider's condition without %s, then MCR-WIF2 refuses it (with and without the policy)", (_what, drop, message) => {
    const json = copy();
    const provider = jobProvider(json, "insurance");
    const kept = jobApprovalConditionClauses(policy, "insurance").map((c) => c.cel).filter((c) => !clause(drop).includes(c));
    provider.attribute_condition = kept.join(" && ");
    for (const withPolicy of [true, false]) {
      const found = errors(run(json, withPolicy), "MCR-WIF2");
      // Without the policy, a condition without project/SA cannot be evaluated against the room's: still an error.
      expect(found.length).toBeGreaterThan(0);
      if (withPolicy) expect(found.map((f) => f.message).join("\n")).toMatch(message);
    }
  });

  test("given the job provider weakened to any signer, then MCR-WIF2 names the key clause", () => {
    const json = copy();
    const provider = jobProvider(json, "insurance");
    provider.attribute_condition = provider.attribute_condition.replace(/ && s\.key_id == '[0-9a-f]{64}'/, "");
    expect(errors(run(json), "MCR-WIF2").map((f) => f.message).join("\n")).toMatch(/another key passes/);
  });

  test("given insurance's provider pinned to claims' key, then MCR-WIF2 refuses it (the policy names insurance's)", () => {
    const json = copy();
    const provider = jobProvider(json, "insurance");
    provider.attribute_condition = jobProvider(json, "claims").attribute_condition;
    expect(errors(run(json), "MCR-WIF2").length + run(json).filter((f) => f.ruleId === "MCR-WIF2" && f.level === "warning").length).toBeGreaterThan(0);
  });

  test("given a grant of the dataset key or stage-2 bucket to a job pool's /*, then MCR-KMS1 and MCR-GCS1 refuse it", () => {
    const json = copy();
    const whole = poolSet("insurance-study-insurance-jobs", "*");
    addIam(json, "google_kms_crypto_key_iam_member", "tampered_key", {
      crypto_key_id: `\${google_kms_crypto_key.${keyId(json, "insurance", "dataset-key")}.id}`, role: "roles/cloudkms.cryptoKeyDecrypter", member: whole,
    });
    addIam(json, "google_storage_bucket_iam_member", "tampered_bucket", {
      bucket: `\${google_storage_bucket.${bucketId(json, "insurance", "stage2")}.name}`, role: "roles/storage.objectViewer", member: whole,
    });
    const found = run(json);
    expect(errors(found, "MCR-KMS1").map((f) => f.address)).toEqual(["google_kms_crypto_key_iam_member.tampered_key"]);
    expect(errors(found, "MCR-GCS1").map((f) => f.address)).toEqual(["google_storage_bucket_iam_member.tampered_bucket"]);
  });

  test("given insurance's job group on claims' key, then MCR-KMS1 refuses it: one dataset's approval never opens another", () => {
    const json = copy();
    addIam(json, "google_kms_crypto_key_iam_member", "cross", {
      crypto_key_id: `\${google_kms_crypto_key.${keyId(json, "claims", "dataset-key")}.id}`,
      role: "roles/cloudkms.cryptoKeyDecrypter",
      member: poolSet("insurance-study-insurance-jobs", "group/job-approved"),
    });
    expect(errors(run(json), "MCR-KMS1").map((f) => f.message).join("\n")).toMatch(/not dataset "claims"'s/);
  });

  test.each([
    ["signerVerifier on the approver key", "google_kms_crypto_key_iam_member", (json: any) => ({ crypto_key_id: `\${google_kms_crypto_key.${keyId(json, "insurance", "approver-key")}.id}`, role: "roles/cloudkms.signerVerifier" })],
    ["cryptoOperator on the dataset key ring", "google_kms_key_ring_iam_member", (json: any) => ({ key_ring_id: json.resource.google_kms_crypto_key[keyId(json, "insurance", "approver-key")].key_ring, role: "roles/cloudkms.cryptoOperator" })],
    ["writer on the signature repository", "google_artifact_registry_repository_iam_member", (json: any) => ({ repository: `\${google_artifact_registry_repository.${repoId(json, "insurance")}.name}`, location: "us-central1", role: "roles/artifactregistry.writer" })],
    ["artifactregistry.writer on the project", "google_project_iam_member", () => ({ project: "acme-clean-room", role: "roles/artifactregistry.writer" })],
  ])("given the job service holding %s, then MCR-APV1 refuses it: it must never approve its own jobs", (_what, type, config) => {
    const json = copy();
    addIam(json, type, "tampered", { ...config(json), member: JOB_SERVICE });
    const found = errors(run(json), "MCR-APV1");
    expect(found.length).toBeGreaterThan(0);
    expect(found[0].message).toMatch(/is the job service, which must never approve the jobs it runs/);
    // Without the policy a service account is still never an owner.
    expect(errors(run(json, false), "MCR-APV1").length).toBeGreaterThan(0);
  });

  test("given a reader role for the job service and the owners' writer role, then MCR-APV1 has nothing to say", () => {
    expect(run(pristine).filter((f) => f.ruleId === "MCR-APV1")).toEqual([]);
  });
});
