/**
 * A consortium room by hand (docs/consortium-contract.md), until the loader and the party data
 * plane land: the example room's operator with two parties, hospital-a holding `insurance` and
 * hospital-b holding `claims`; digest B approved by both (each for its own dataset), digest A by
 * hospital-a only. Party stacks as Terraform JSON shaped like the single-project data plane's.
 */
import { ATTRIBUTE_MAPPING, compileAttributeCondition } from "../../lib/policy/condition";
import { CleanRoomPolicy, PartyPolicy } from "../../lib/policy/model";
import { manateeContract } from "../../lib/policy/names";
import { partyPoolId } from "../../lib/analysis/parties";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";

const base = examplePolicy();
export const HOSPITAL_A: PartyPolicy = { name: "hospital-a", project: "hospital-a-cleanroom" };
export const HOSPITAL_B: PartyPolicy = { name: "hospital-b", project: "hospital-b-cleanroom" };
const HOLDER: Record<string, string> = { insurance: HOSPITAL_A.name, claims: HOSPITAL_B.name };

export const consortiumPolicy: CleanRoomPolicy = {
  ...base,
  parties: [HOSPITAL_A, HOSPITAL_B],
  datasets: base.datasets.map((d) => ({ ...d, party: HOLDER[d.name] })),
  approvals: [
    { imageDigest: EXAMPLE_DIGEST_A, datasets: ["insurance"], purpose: "XGBoost regression of insurance charges", approvedBy: "dpo@hospital-a.example", expires: "2027-01-31", party: HOSPITAL_A.name },
    { imageDigest: EXAMPLE_DIGEST_B, datasets: ["insurance"], purpose: "Descriptive statistics by region", approvedBy: "dpo@hospital-a.example", party: HOSPITAL_A.name },
    { imageDigest: EXAMPLE_DIGEST_B, datasets: ["claims"], purpose: "Descriptive statistics by region", approvedBy: "dpo@hospital-b.example", party: HOSPITAL_B.name },
  ],
};

export const OPERATOR = consortiumPolicy.project;
export const TEE_SA = manateeContract(consortiumPolicy.name, OPERATOR).teeServiceAccountEmail;

/** A principal set of `pool`, in the project a `google_project` data source of the stack names. */
export const principalSet = (pool: string, digest: string, projectRef = "${data.google_project.pool_project.number}") =>
  `principalSet://iam.googleapis.com/projects/${projectRef}/locations/global/workloadIdentityPools/${pool}/attribute.image_digest/${digest}`;

/** Party `party`'s stack for its `dataset`: pool and provider, key, stage-1/stage-2 buckets, reader SA, and their IAM. */
export function partyStack(party: PartyPolicy, dataset: string): any {
  const room = consortiumPolicy.name;
  const pool = partyPoolId(room, party.name);
  const digests = [...new Set(consortiumPolicy.approvals.filter((a) => a.party === party.name).map((a) => a.imageDigest))];
  const attested = digests.map((d) => principalSet(pool, d));
  const bucket = (stage: string) => ({ name: `${party.project}-${room}-${dataset}-${stage}`, project: party.project, location: "us-central1", labels: { component: stage === "s1" ? "stage1" : "stage2", dataset } });
  return {
    "//": { metadata: { stackName: `${room}-party-${party.name}` } },
    provider: { google: [{ project: party.project, region: "us-central1" }] },
    data: { google_project: { pool_project: { project_id: party.project } } },
    resource: {
      google_iam_workload_identity_pool: { pool: { project: party.project, workload_identity_pool_id: pool } },
      google_iam_workload_identity_pool_provider: {
        provider: {
          project: party.project,
          workload_identity_pool_id: "${google_iam_workload_identity_pool.pool.workload_identity_pool_id}",
          workload_identity_pool_provider_id: "attestation-verifier",
          attribute_condition: compileAttributeCondition(consortiumPolicy),
          attribute_mapping: { ...ATTRIBUTE_MAPPING },
          oidc: { issuer_uri: "https://confidentialcomputing.googleapis.com/", allowed_audiences: ["https://sts.googleapis.com"] },
        },
      },
      google_kms_key_ring: { ring: { project: party.project, name: `${room}-datasets`, location: "us-central1" } },
      google_kms_crypto_key: { key: { key_ring: "${google_kms_key_ring.ring.id}", name: dataset, labels: { component: "dataset-key", dataset } } },
      google_kms_crypto_key_iam_binding: { decrypt: { crypto_key_id: "${google_kms_crypto_key.key.id}", role: "roles/cloudkms.cryptoKeyDecrypter", members: [...attested] } },
      google_storage_bucket: { s1: bucket("s1"), s2: bucket("s2") },
      google_storage_bucket_iam_binding: {
        s1_read: { bucket: "${google_storage_bucket.s1.name}", role: "roles/storage.objectViewer", members: [...consortiumPolicy.researchers] },
        s2_read: { bucket: "${google_storage_bucket.s2.name}", role: "roles/storage.objectViewer", members: [...attested] },
      },
      google_service_account: { reader: { account_id: `${room}-${dataset}-rd`, project: party.project } },
      google_service_account_iam_binding: { reader_wi: { service_account_id: "${google_service_account.reader.name}", role: "roles/iam.workloadIdentityUser", members: [...attested] } },
    },
  };
}

/** The operator's stack: its TEE service account and a project-level grant in its own project. */
export function operatorStack(): any {
  return {
    "//": { metadata: { stackName: `${consortiumPolicy.name}-platform` } },
    provider: { google: [{ project: OPERATOR, region: "us-central1" }] },
    resource: {
      google_service_account: { tee: { account_id: TEE_SA.split("@")[0], project: OPERATOR } },
      google_project_iam_member: { tee_logs: { project: OPERATOR, role: "roles/logging.logWriter", member: "${google_service_account.tee.member}" } },
    },
  };
}
