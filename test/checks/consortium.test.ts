/**
 * MCR-PTY1..3: a consortium room's party stacks refuse the operator's principals on their data,
 * the operator's stacks hold no IAM in a party's project, and a party pool's provider pins the
 * operator's project and TEE service account (judged with the CEL engine, as MCR-WIF4 does).
 */
import { TerraformStack, Testing } from "cdktf";
import { isCelError, run } from "@bufbuild/cel";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { KmsCryptoKeyIamMember } from "@cdktf/provider-google/lib/kms-crypto-key-iam-member";
import { CleanRoomChecks } from "../../lib/checks/aspect";
import { checkContext } from "../../lib/checks/context";
import { checkTerraform } from "../../lib/checks/engine";
import { Finding } from "../../lib/checks/model";
import { partyProviderPinned } from "../../lib/checks/rules/party-pool";
import { partyResourcesOwnStack, partyStackMembers } from "../../lib/checks/rules/party-stacks";
import { CleanRoomPolicy } from "../../lib/policy/model";
import { EXAMPLE_DIGEST_A, examplePolicy } from "../util";
import { consortiumPolicy, HOSPITAL_A, HOSPITAL_B, OPERATOR, operatorStack, partyStack, principalSet, TEE_SA } from "./consortium-fixture";
import { examplePlatform } from "./harness";

const PARTY_RULES = [partyStackMembers, partyResourcesOwnStack, partyProviderPinned];
const now = new Date("2026-06-01T00:00:00Z");
const checked = (json: unknown, policy: CleanRoomPolicy = consortiumPolicy, rules = PARTY_RULES): Finding[] =>
  checkTerraform(json as never, checkContext({ policy, now }), rules);
const of = (findings: Finding[], id: string, level = "error") => findings.filter((f) => f.ruleId === id && f.level === level);

const stackA = () => partyStack(HOSPITAL_A, "insurance");
const addMember = (json: any, type: string, name: string, member: string) => {
  json.resource[type][name].members.push(member);
  return json;
};

describe("given the hand-made consortium room untampered", () => {
  test("then no party rule reports anything on either party stack or the operator stack", () => {
    expect(checked(stackA())).toEqual([]);
    expect(checked(partyStack(HOSPITAL_B, "claims"))).toEqual([]);
    expect(checked(operatorStack())).toEqual([]);
  });
});

describe("MCR-PTY1 a party's stack refuses the operator's principals on its data", () => {
  test.each([
    ["the operator's TEE service account on the stage-2 bucket", "google_storage_bucket_iam_binding", "s2_read", `serviceAccount:${TEE_SA}`, "operator's project"],
    ["the operator's data pool principal set on the dataset key", "google_kms_crypto_key_iam_binding", "decrypt", principalSet("insurance-study-tee", EXAMPLE_DIGEST_A), "not of the party's own pool"],
    ["the operator's GKE workload identity on the reader account", "google_service_account_iam_binding", "reader_wi", `serviceAccount:${OPERATOR}.svc.id.goog[manatee/jupyter-k8s-pod-sa]`, "GKE workload identity"],
    ["the operator's JupyterLab account on the stage-1 bucket", "google_storage_bucket_iam_binding", "s1_read", `serviceAccount:dcr-jupyter@${OPERATOR}.iam.gserviceaccount.com`, "operator's project"],
    ["another party's service account on the stage-2 bucket", "google_storage_bucket_iam_binding", "s2_read", `serviceAccount:loader@${HOSPITAL_B.project}.iam.gserviceaccount.com`, "party hospital-b's project"],
  ])("given %s, then an error on that IAM resource", (_what, type, name, member, says) => {
    const findings = of(checked(addMember(stackA(), type, name, member)), "MCR-PTY1");
    expect(findings.map((f) => f.address)).toEqual([`${type}.${name}`]);
    expect(findings[0].message).toContain(member);
    expect(findings[0].message).toContain(says);
  });

  test("given the party's own pool id but in the operator's project, then an error: a same-named pool there is the operator's", () => {
    const json = stackA();
    json.data.google_project.operator_project = { project_id: OPERATOR };
    addMember(json, "google_kms_crypto_key_iam_binding", "decrypt", principalSet("insurance-study-hospital-a", EXAMPLE_DIGEST_A, "${data.google_project.operator_project.number}"));
    expect(of(checked(json), "MCR-PTY1")[0].message).toContain(`in project ${OPERATOR}, not in the party's project`);
  });

  test("given a project-level grant on the party's project to the operator's project owners, then an error", () => {
    const json = stackA();
    json.resource.google_project_iam_member = { owners: { project: HOSPITAL_A.project, role: "roles/storage.objectViewer", member: `projectOwner:${OPERATOR}` } };
    expect(of(checked(json), "MCR-PTY1").map((f) => f.address)).toEqual(["google_project_iam_member.owners"]);
  });

  test("given the stack named otherwise, then its provider's project still makes it the party's stack", () => {
    const json = addMember(stackA(), "google_storage_bucket_iam_binding", "s2_read", `serviceAccount:${TEE_SA}`);
    json["//"].metadata.stackName = "hospital-a-data";
    expect(of(checked(json), "MCR-PTY1")).toHaveLength(1);
  });

  test("given a single-project room (no parties), then the party rules stay silent on the same grants", () => {
    const json = addMember(stackA(), "google_storage_bucket_iam_binding", "s2_read", `serviceAccount:${TEE_SA}`);
    expect(checked(json, examplePolicy())).toEqual([]);
  });

  test("given the checks as an Aspect on a stack named <room>-party-<party>, then the stack name reaches the rule", () => {
    const stack = new TerraformStack(Testing.app(), `${consortiumPolicy.name}-party-${HOSPITAL_A.name}`);
    new GoogleProvider(stack, "google", { project: HOSPITAL_A.project, region: "us-central1" });
    new KmsCryptoKeyIamMember(stack, "leak", {
      cryptoKeyId: `projects/${HOSPITAL_A.project}/locations/us-central1/keyRings/r/cryptoKeys/insurance`,
      role: "roles/cloudkms.cryptoKeyDecrypter",
      member: `serviceAccount:${TEE_SA}`,
    });
    const checks = CleanRoomChecks.applyTo(stack, { policy: consortiumPolicy, now, rules: PARTY_RULES });
    Testing.synth(stack);
    expect(of(checks.findings(stack), "MCR-PTY1").map((f) => f.path)).toEqual([`${stack.node.id}/leak`]);
  });
});

describe("MCR-PTY2 the operator's stacks hold no IAM in a party's project", () => {
  test.each([
    ["a party's stage-2 bucket by name", { google_storage_bucket_iam_member: { x: { bucket: "hospital-a-cleanroom-insurance-study-insurance-s2", role: "roles/storage.objectViewer", member: `serviceAccount:${TEE_SA}` } } }, "hospital-a"],
    ["a party's project", { google_project_iam_member: { x: { project: HOSPITAL_B.project, role: "roles/viewer", member: "group:ops@consortium.example" } } }, "hospital-b"],
    ["a party's dataset key by id", { google_kms_crypto_key_iam_member: { x: { crypto_key_id: `projects/${HOSPITAL_A.project}/locations/us-central1/keyRings/r/cryptoKeys/insurance`, role: "roles/cloudkms.admin", member: "group:ops@consortium.example" } } }, "hospital-a"],
    ["a party's reader account by email", { google_service_account_iam_member: { x: { service_account_id: `projects/${HOSPITAL_B.project}/serviceAccounts/r@${HOSPITAL_B.project}.iam.gserviceaccount.com`, role: "roles/iam.serviceAccountTokenCreator", member: `serviceAccount:${TEE_SA}` } } }, "hospital-b"],
  ])("given a binding on %s, then an error naming the party", (_what, extra, party) => {
    const json = operatorStack();
    Object.assign(json.resource, extra);
    const findings = of(checked(json), "MCR-PTY2");
    expect(findings).toHaveLength(1);
    expect(findings[0].message).toContain(`party ${party}'s project`);
    expect(findings[0].message).toContain("the operator's stack");
  });

  test("given hospital-b's stack granting on hospital-a's key, then an error: only a party's own stack grants on its resources", () => {
    const json = partyStack(HOSPITAL_B, "claims");
    json.resource.google_kms_crypto_key_iam_member = {
      x: { crypto_key_id: `projects/${HOSPITAL_A.project}/locations/us-central1/keyRings/r/cryptoKeys/insurance`, role: "roles/cloudkms.cryptoKeyDecrypter", member: "user:dpo@hospital-b.example" },
    };
    expect(of(checked(json), "MCR-PTY2")[0].message).toContain("from party hospital-b's stack");
  });

  test("given the example room's real synthesized platform as the operator's stack, then no IAM of it lies in a party's project", () => {
    const findings = checked(examplePlatform(examplePolicy()));
    expect(findings.filter((f) => f.ruleId.startsWith("MCR-PTY"))).toEqual([]);
    // The same stack would be refused if it granted on a party's bucket.
    const tampered = examplePlatform(examplePolicy()) as any;
    tampered.resource.google_storage_bucket_iam_member.leak = { bucket: `${HOSPITAL_A.project}-x`, role: "roles/storage.objectViewer", member: "group:ops@consortium.example" };
    expect(of(checked(tampered), "MCR-PTY2").map((f) => f.address)).toEqual(["google_storage_bucket_iam_member.leak"]);
  }, 60_000);
});

describe("MCR-PTY3 a party pool's provider pins the operator's project and TEE service account", () => {
  const conditionOf = (json: any): string => json.resource.google_iam_workload_identity_pool_provider.provider.attribute_condition;
  const withCondition = (edit: (c: string) => string) => {
    const json = stackA();
    json.resource.google_iam_workload_identity_pool_provider.provider.attribute_condition = edit(conditionOf(json));
    return json;
  };
  const projectClause = `assertion.submods.gce.project_id == '${OPERATOR}'`;
  const saClause = `'${TEE_SA}' in assertion.google_service_accounts`;
  const drop = (clause: string) => (c: string) => c.split(" && ").filter((x) => x !== clause).join(" && ");
  /** A production token the compiled condition admits, from `project` as `account`. */
  const token = (project: string, account: string) => ({
    swname: "CONFIDENTIAL_SPACE", dbgstat: "disabled-since-boot", secboot: true, hwmodel: "GCP_INTEL_TDX", google_service_accounts: [account],
    submods: { confidential_space: { support_attributes: ["STABLE"] }, container: { image_digest: EXAMPLE_DIGEST_A }, gce: { project_id: project } },
  });
  const admits = (condition: string, t: object) => {
    const r = run(condition, { assertion: t as never });
    return !isCelError(r) && r === true;
  };

  test("given the compiled condition, then it holds both clauses and the CEL engine refuses a VM of another project", () => {
    const c = conditionOf(stackA());
    expect(c).toContain(projectClause);
    expect(admits(c, token(OPERATOR, TEE_SA))).toBe(true);
    expect(admits(c, token("evil-project", TEE_SA))).toBe(false);
    expect(of(checked(stackA()), "MCR-PTY3")).toEqual([]);
  });

  test.each([
    ["without the operator's project", drop(projectClause), projectClause, token("evil-project", TEE_SA)],
    ["without the TEE service account", drop(saClause), saClause, token(OPERATOR, `rogue@${OPERATOR}.iam.gserviceaccount.com`)],
    ["with the project widened by in [...]", (c: string) => c.replace(projectClause, `assertion.submods.gce.project_id in ['${OPERATOR}', 'evil-project']`), projectClause, token("evil-project", TEE_SA)],
    ["with the account clause under ||", (c: string) => c.replace(saClause, `(${saClause} || assertion.swversion == ['1'])`), saClause, { ...token(OPERATOR, "x@y.iam.gserviceaccount.com"), swversion: ["1"] }],
  ])("given the condition %s, then the CEL engine admits a foreign VM and MCR-PTY3 names the missing clause", (_what, edit, clause, foreign) => {
    const json = withCondition(edit);
    expect(admits(conditionOf(json), foreign)).toBe(true);
    const findings = of(checked(json), "MCR-PTY3");
    expect(findings).toHaveLength(1);
    expect(findings[0].message).toContain(clause);
    expect(findings[0].message).toContain("hospital-a");
  });

  test("given a provider of another pool without the clauses, then MCR-PTY3 does not judge it", () => {
    const json = withCondition(drop(projectClause));
    json.resource.google_iam_workload_identity_pool.pool.workload_identity_pool_id = "unrelated-pool";
    expect(of(checked(json), "MCR-PTY3")).toEqual([]);
  });
});
