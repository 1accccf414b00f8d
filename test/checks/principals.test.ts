/** Member classification and reference parsing: the vocabulary every IAM rule relies on. */
import { classifyMember, PrincipalKind } from "../../lib/analysis/principals";
import { parseReference, wholeReference } from "../../lib/analysis/resource-index";
import { EXAMPLE_DIGEST_A } from "../util";

describe("classifyMember", () => {
  const cases: [string, PrincipalKind, string?][] = [
    [`principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/tee/attribute.image_digest/${EXAMPLE_DIGEST_A}`, "attested", EXAMPLE_DIGEST_A],
    [`principalSet://iam.googleapis.com/projects/\${data.google_project.p.number}/locations/global/workloadIdentityPools/tee/attribute.image_digest/${EXAMPLE_DIGEST_A}`, "attested", EXAMPLE_DIGEST_A],
    [`principalSet://iam.googleapis.com/\${google_iam_workload_identity_pool.p.name}/attribute.image_digest/sha256:abc`, "attested", "sha256:abc"],
    ["principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/tee/*", "pool"],
    ["principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/tee/attribute.hwmodel/GCP_INTEL_TDX", "federated"],
    ["principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/tee/subject/gcpcs::x", "federated"],
    ["principalSet://iam.googleapis.com/locations/global/workforcePools/staff/group/eng", "person"],
    ["serviceAccount:acme.svc.id.goog[manatee/dcr-k8s-pod-sa]", "federated"],
    ["serviceAccount:reader@acme.iam.gserviceaccount.com", "serviceAccount"],
    ["${google_service_account.reader.member}", "serviceAccount"],
    ["${var.member}", "unknown"],
    ["allUsers", "public"],
    ["allAuthenticatedUsers", "public"],
    ["user:alice@example.org", "person"],
    ["projectViewer:acme", "person"],
  ];
  // Every row gets three cells: jest would pass its `done` callback into a missing one.
  test.each(cases.map(([m, k, d]): [string, PrincipalKind, string] => [m, k, d ?? ""]))("%s is %s", (member, kind, digest) => {
    const p = classifyMember(member);
    expect(p.kind).toBe(kind);
    if (digest) expect(p.digest).toBe(digest);
  });

  test("a digest segment alone does not make an attested principal: the pool must precede it", () => {
    expect(classifyMember(`principalSet://iam.googleapis.com/attribute.image_digest/${EXAMPLE_DIGEST_A}`).kind).toBe("federated");
  });
});

describe("references", () => {
  test("plain traversals of resources and data sources resolve; variables, locals and remote state do not", () => {
    expect(wholeReference("${google_kms_crypto_key.k.id}")).toEqual({ address: "google_kms_crypto_key.k", attribute: "id" });
    expect(wholeReference("${data.google_iam_policy.p.policy_data}")).toEqual({ address: "data.google_iam_policy.p", attribute: "policy_data" });
    expect(wholeReference("${var.key}")).toBeUndefined();
    expect(wholeReference("${lower(google_kms_crypto_key.k.id)}")).toBeUndefined();
    expect(parseReference("data.terraform_remote_state.platform.outputs.key")).toBeUndefined();
    expect(wholeReference("projects/${var.p}/keys/k")).toBeUndefined();
  });
});
