import { CleanRoomDataPlane } from "../lib/constructs/data-plane/datasets";
import { JOB_APPROVAL_ATTRIBUTE_MAPPING, compileJobApprovalCondition } from "../lib/policy/condition";
import { examplePolicy, iamGrants, resourceConfigs, resources, synthWith, grantsOn } from "./util";
import { evaluateAttributeCondition, productionTdxClaims, withClaim } from "./cel";
import { FINGERPRINT_A, jobPolicy } from "./policy/job-fixtures";
import { datasetIamLoad } from "../lib/policy/iam-limits";
import { dataPlaneNames } from "../lib/policy/names";

const OWNER = "user:data-owner@example.org";
const TEE = "serviceAccount:${google_service_account.data_tee_sa_F9D6E2B6.member}";
const JOB_SERVICE = "serviceAccount:dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com";
const JUPYTER = "serviceAccount:jupyter-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com";

/** The example room with per-job approval on insurance (direct) only. */
function insuranceOnly() {
  const base = examplePolicy();
  return examplePolicy({ datasets: { insurance: { ...base.datasets[0], approverKey: { fingerprint: FINGERPRINT_A } }, claims: base.datasets[1] } });
}

function synth(policy = jobPolicy()) {
  let plane!: CleanRoomDataPlane;
  const json = synthWith((stack) => {
    plane = new CleanRoomDataPlane(stack, "data", { policy });
    plane.grantSignatureRead(JOB_SERVICE);
    plane.grantSdkStage1Access(JUPYTER);
  });
  return { json, plane, policy };
}

describe("per-job approval on the data plane", () => {
  const { json, plane, policy } = synth();
  const keys = Object.fromEntries(resources(json, "google_kms_crypto_key"));
  const approverKeys = Object.entries(keys).filter(([, k]) => k.labels.component === "approver-key");
  const tee = plane.workload.serviceAccount;
  const teeMember = `\${google_service_account.${resources(json, "google_service_account").find(([, s]) => s.account_id === "dcr-insurance-study-cvm-sa")![0]}.member}`;

  test("given every dataset, then it has an HSM P-256 signing key on the dataset ring, protected from destroy", () => {
    expect(approverKeys.map(([, k]) => k.name).sort()).toEqual(["claims-approver", "insurance-approver"]);
    for (const [, k] of approverKeys) {
      expect(k).toMatchObject({
        purpose: "ASYMMETRIC_SIGN",
        version_template: { algorithm: "EC_SIGN_P256_SHA256", protection_level: "HSM" },
        lifecycle: { prevent_destroy: true },
      });
      expect(k.rotation_period).toBeUndefined();
      expect(k.key_ring).toMatch(/google_kms_key_ring\.data_dataset-keys_/);
    }
    expect(tee).toBeDefined();
  });

  test("given the approver keys, then only the dataset's owners may sign or read the public key", () => {
    const grants = grantsOn(json, "google_kms_crypto_key").filter((g) =>
      approverKeys.some(([id]) => g.crypto_key_id === `\${google_kms_crypto_key.${id}.id}`),
    );
    expect(grants.map((g) => [g.role, g.member]).sort()).toEqual([
      ["roles/cloudkms.publicKeyViewer", OWNER],
      ["roles/cloudkms.signerVerifier", OWNER],
    ]);
  });

  test("given the signature repositories, then they are regional Docker repositories written by owners only, read by the TEE and the job service", () => {
    const repos = resources(json, "google_artifact_registry_repository");
    expect(repos.map(([, r]) => [r.repository_id, r.format, r.location]).sort()).toEqual([
      ["insurance-study-claims-approvals", "DOCKER", "us-central1"],
      ["insurance-study-insurance-approvals", "DOCKER", "us-central1"],
    ]);
    const grants = resourceConfigs(json, "google_artifact_registry_repository_iam_member");
    expect(grants.filter((g) => g.role !== "roles/artifactregistry.reader").map((g) => [g.role, g.member])).toEqual([["roles/artifactregistry.writer", OWNER]]);
    const readers = grants.filter((g) => g.role === "roles/artifactregistry.reader");
    expect(readers.map((g) => g.member).sort()).toEqual([JOB_SERVICE, JOB_SERVICE, teeMember, teeMember].sort());
    expect(plane.datasets.insurance.signatureRepository.url).toBe("us-central1-docker.pkg.dev/acme-clean-room/insurance-study-insurance-approvals");
  });

  test("given a fingerprint, then the dataset has its own job pool whose provider enforces the compiled condition and mapping", () => {
    const providers = resourceConfigs(json, "google_iam_workload_identity_pool_provider").filter((p) => p.attribute_mapping["google.groups"]);
    expect(providers.map((p) => p.workload_identity_pool_provider_id)).toEqual(["attestation-verifier", "attestation-verifier"]);
    for (const dataset of ["insurance", "claims"]) {
      const pool = resourceConfigs(json, "google_iam_workload_identity_pool").find((p) => p.workload_identity_pool_id === `insurance-study-${dataset}-jobs`)!;
      expect(pool).toBeDefined();
      const provider = providers.find((p) => p.attribute_condition === compileJobApprovalCondition(policy, dataset))!;
      expect(provider).toMatchObject({
        attribute_mapping: JOB_APPROVAL_ATTRIBUTE_MAPPING,
        oidc: { issuer_uri: "https://confidentialcomputing.googleapis.com/", allowed_audiences: ["https://sts.googleapis.com"] },
      });
    }
  });

  test("given the synthesized conditions, then a token signed by insurance's key passes insurance's provider only (real CEL engine)", () => {
    const token = withClaim(
      productionTdxClaims({ project: policy.project, serviceAccount: "dcr-insurance-study-cvm-sa@acme-clean-room.iam.gserviceaccount.com" }),
      "submods.container.image_signatures",
      [{ key_id: FINGERPRINT_A, signature: "MEUCIQ…", signature_algorithm: "ECDSA_P256_SHA256" }],
    );
    const byPool = Object.fromEntries(
      resourceConfigs(json, "google_iam_workload_identity_pool_provider").map((p) => [p.workload_identity_pool_id, p.attribute_condition]),
    );
    const jobsPool = (d: string) => Object.keys(byPool).find((k) => k.includes(`data_datasets_${d}_jobs_pool`))!;
    expect(evaluateAttributeCondition(byPool[jobsPool("insurance")], token).allowed).toBe(true);
    expect(evaluateAttributeCondition(byPool[jobsPool("claims")], token).allowed).toBe(false);
  });

  test("given direct access, then the job pool's group (never /*) decrypts the key and reads stage 2; given impersonation, it impersonates the reader", () => {
    const group = (d: string) =>
      `principalSet://iam.googleapis.com/projects/\${data.google_project.${resources(json, "google_project")[0]?.[0] ?? Object.keys((json as any).data.google_project)[0]}.number}/locations/global/workloadIdentityPools/insurance-study-${d}-jobs/group/job-approved`;
    expect(plane.datasets.insurance.jobPool!.groupPrincipalSet).toMatch(/\/workloadIdentityPools\/insurance-study-insurance-jobs\/group\/job-approved$/);
    expect(group("insurance")).toMatch(/^principalSet:\/\/iam\.googleapis\.com\/projects\/\$\{data\.google_project\.[\w_]+\.number\}\/locations\/global\/workloadIdentityPools\/insurance-study-insurance-jobs\/group\/job-approved$/);
    const byGroup = (d: string) => iamGrants(json).filter((g) => g.member === group(d)).map((g) => [g.type, g.role]).sort();
    expect(byGroup("insurance")).toEqual([
      ["google_kms_crypto_key_iam_policy", "roles/cloudkms.cryptoKeyDecrypter"],
      ["google_storage_bucket_iam_policy", "roles/storage.objectViewer"],
    ]);
    expect(byGroup("claims")).toEqual([["google_service_account_iam_policy", "roles/iam.workloadIdentityUser"]]);
    for (const g of iamGrants(json)) expect(g.member).not.toMatch(/\/\*$/);
  });

  test("given the TEE service account, then it holds no data grant: only pulls, its project roles and projects.get", () => {
    const roles = iamGrants(json).filter((g) => g.member === teeMember).map((g) => g.role);
    for (const role of roles) {
      expect(role).not.toMatch(/cloudkms|storage\.|workloadIdentityUser/);
    }
    expect(roles.filter((r) => r === "roles/artifactregistry.reader")).toHaveLength(2);
    expect(roles).toContain(`\${google_project_iam_custom_role.${resources(json, "google_project_iam_custom_role").find(([, r]) => r.role_id.endsWith("_project_get"))![0]}.name}`);
    expect(TEE).toContain("serviceAccount:");
  });

  test("given the SDK grants, then JupyterLab gets bucket get + object get/list on stage-1 buckets and projects.get, nothing more", () => {
    const roles = Object.fromEntries(resources(json, "google_project_iam_custom_role").map(([id, r]) => [`\${google_project_iam_custom_role.${id}.name}`, r.permissions]));
    const jupyter = iamGrants(json).filter((g) => g.member === JUPYTER);
    expect(jupyter.map((g) => [g.type, roles[g.role]])).toEqual([
      ["google_project_iam_member", ["resourcemanager.projects.get"]],
      ["google_storage_bucket_iam_member", ["storage.buckets.get", "storage.objects.get", "storage.objects.list"]],
      ["google_storage_bucket_iam_member", ["storage.buckets.get", "storage.objects.get", "storage.objects.list"]],
    ].sort());
    const buckets = Object.fromEntries(resources(json, "google_storage_bucket"));
    for (const g of jupyter.filter((x) => x.type === "google_storage_bucket_iam_member")) {
      expect(buckets[/google_storage_bucket\.([\w-]+)\.name/.exec(g.config.bucket)![1]].labels.component).toBe("stage1");
    }
  });

  test("given per-job approval on both datasets, then each dataset's allow policies hold exactly the principals iam-limits counts", () => {
    // Principal occurrences per IAM target, as Google counts them (one per member resource).
    const perTarget = new Map<string, number>();
    for (const g of iamGrants(json)) {
      const target = g.config.bucket ?? g.config.crypto_key_id ?? g.config.service_account_id;
      if (target !== undefined) perTarget.set(target, (perTarget.get(target) ?? 0) + 1);
    }
    const ref = (type: string, attr: string, match: (c: any) => boolean) => `\${${type}.${resources(json, type).find(([, c]) => match(c))![0]}.${attr}}`;
    const names = dataPlaneNames(policy);
    for (const dataset of policy.datasets) {
      const bucket = (purpose: "stage1" | "stage2") =>
        perTarget.get(ref("google_storage_bucket", "name", (c) => c.name === names.datasetBucket(dataset.name, purpose))) ?? 0;
      const actual: Record<string, number> = {
        "stage-1 bucket": bucket("stage1"),
        "stage-2 bucket": bucket("stage2"),
        "dataset key": perTarget.get(ref("google_kms_crypto_key", "id", (c) => c.labels.dataset === dataset.name && c.labels.component === "dataset-key")) ?? 0,
      };
      if (dataset.access === "impersonation") {
        actual["reader service account 1"] =
          perTarget.get(ref("google_service_account", "name", (c) => c.account_id === names.readerServiceAccountId(dataset.name))) ?? 0;
      }
      const counted = Object.fromEntries(datasetIamLoad(policy, dataset).policies.map((p) => [`${p.resource}${p.reader ? ` ${p.reader}` : ""}`, p.principals]));
      expect({ dataset: dataset.name, principals: actual }).toEqual({ dataset: dataset.name, principals: counted });
    }
  });

  test("given a dataset without a fingerprint, then its key and repository exist but no job pool and no job grant", () => {
    const { json: j, plane: p } = synth(insuranceOnly());
    expect(p.datasets.claims.jobPool).toBeUndefined();
    expect(p.datasets.claims.approverKey).toBeDefined();
    expect(resourceConfigs(j, "google_iam_workload_identity_pool").map((x) => x.workload_identity_pool_id).sort()).toEqual([
      "insurance-study-insurance-jobs",
      "insurance-study-tee",
    ]);
    expect(iamGrants(j).filter((g) => g.member.endsWith("/group/job-approved") && g.member.includes("claims"))).toEqual([]);
  });
});
