import { run } from "@bufbuild/cel";
import { TerraformOutput } from "cdktf";
import { ATTRIBUTE_MAPPING, compileAttributeCondition } from "../lib/policy/condition";
import { principalSetForDigest } from "../lib/policy/members";
import { manateeContract } from "../lib/policy/names";
import { CONFIDENTIAL_SPACE_ISSUER_URI, ConfidentialSpacePool } from "../lib/constructs/data-plane/workload-identity-pool";
import { EXAMPLE_DIGEST_A, SynthJson, dataSources, examplePolicy, resourceConfigs, synthWith } from "./util";

const policy = examplePolicy();
const teeSa = manateeContract(policy.name, policy.project).teeServiceAccountEmail;

/** Real-shaped claims of a production Confidential Space token (reference/confidential-space.md §2). */
function productionClaims(overrides: Record<string, unknown> = {}) {
  return {
    aud: "https://sts.googleapis.com",
    iss: "https://confidentialcomputing.googleapis.com",
    dbgstat: "disabled-since-boot",
    hwmodel: "GCP_INTEL_TDX",
    secboot: true,
    swname: "CONFIDENTIAL_SPACE",
    swversion: ["251200"],
    google_service_accounts: [teeSa],
    sub: "https://www.googleapis.com/compute/v1/projects/acme-clean-room/zones/us-central1-a/instances/alice-0b4f",
    submods: {
      confidential_space: { monitoring_enabled: { memory: false }, support_attributes: ["LATEST", "STABLE", "USABLE"] },
      container: { image_digest: EXAMPLE_DIGEST_A, restart_policy: "Never" },
      gce: {
        instance_id: "4471069218930466313",
        instance_name: "alice-0b4f",
        project_id: "acme-clean-room",
        project_number: "123456789012",
        zone: "us-central1-a",
      },
    },
    ...overrides,
  };
}

/** STS admits a token only when the condition evaluates to true; an evaluation error denies. */
function admits(condition: string, assertion: unknown): boolean {
  return run(condition, { assertion: assertion as any }) === true;
}

describe("ConfidentialSpacePool", () => {
  let json: SynthJson;
  let pool: ConfidentialSpacePool;
  let provider: any;

  beforeAll(() => {
    json = synthWith((stack) => {
      pool = new ConfidentialSpacePool(stack, "pool", { policy });
      // Outputs show how tokens inside these values render in Terraform.
      new TerraformOutput(stack, "member", { value: pool.principalSetForDigest(EXAMPLE_DIGEST_A) });
      new TerraformOutput(stack, "audience", { value: pool.credentialAudience });
    });
    [provider] = resourceConfigs(json, "google_iam_workload_identity_pool_provider");
  });

  test("given the example policy, the OIDC provider trusts Google's attestation issuer for STS only", () => {
    // Then
    expect(provider.workload_identity_pool_provider_id).toBe("attestation-verifier");
    expect(provider.workload_identity_pool_provider_id).toBe(manateeContract(policy.name, policy.project).wifProviderId);
    expect(provider.oidc).toEqual({
      issuer_uri: "https://confidentialcomputing.googleapis.com/",
      allowed_audiences: ["https://sts.googleapis.com"],
    });
    expect(provider.oidc.jwks_json).toBeUndefined();
    expect(provider.disabled).toBe(false);
    expect(CONFIDENTIAL_SPACE_ISSUER_URI).toBe("https://confidentialcomputing.googleapis.com/");
  });

  test("then the provider's mapping and condition are exactly the compiled ones", () => {
    expect(provider.attribute_mapping).toEqual(ATTRIBUTE_MAPPING);
    expect(provider.attribute_condition).toBe(compileAttributeCondition(policy));
    expect(pool.attributeCondition).toBe(provider.attribute_condition);
  });

  test("then the synthesized condition admits a production token and rejects debug, foreign and unsupported ones", () => {
    const condition: string = provider.attribute_condition;
    expect(admits(condition, productionClaims())).toBe(true);

    // A debug image: debugging enabled and no support_attributes at all.
    const debug = productionClaims({ dbgstat: "enabled" });
    const { support_attributes: _absent, ...debugConfidentialSpace } = debug.submods.confidential_space;
    expect(admits(condition, { ...debug, submods: { ...debug.submods, confidential_space: debugConfidentialSpace } })).toBe(false);
    expect(admits(condition, productionClaims({ dbgstat: "enabled" }))).toBe(false);

    const foreign = productionClaims();
    foreign.submods.gce.project_id = "attacker-project";
    expect(admits(condition, foreign)).toBe(false);
    expect(admits(condition, productionClaims({ google_service_accounts: ["other@acme-clean-room.iam.gserviceaccount.com"] }))).toBe(false);
    expect(admits(condition, productionClaims({ hwmodel: "GCP_AMD_SEV" }))).toBe(false);
    expect(admits(condition, productionClaims({ swname: "GCE" }))).toBe(false);
    expect(admits(condition, productionClaims({ secboot: false }))).toBe(false);
    const usableOnly = productionClaims();
    usableOnly.submods.confidential_space.support_attributes = ["USABLE"];
    expect(admits(condition, usableOnly)).toBe(false);
  });

  test("then the mapped subject of a real-shaped token fits Google's 127-byte limit and the digest is an attribute", () => {
    const claims = productionClaims();
    const subject = run(provider.attribute_mapping["google.subject"], { assertion: claims as any });
    expect(subject).toBe(`gcpcs::${EXAMPLE_DIGEST_A}::123456789012::4471069218930466313`);
    expect(Buffer.byteLength(subject as string)).toBeLessThanOrEqual(127);
    expect(run(provider.attribute_mapping["attribute.image_digest"], { assertion: claims as any })).toBe(EXAMPLE_DIGEST_A);
  });

  test("then the pool ID fits Google's rule and principal sets name the project NUMBER from a google_project data source", () => {
    const [poolConfig] = resourceConfigs(json, "google_iam_workload_identity_pool");
    expect(poolConfig.workload_identity_pool_id).toBe("insurance-study-tee");
    expect(poolConfig.workload_identity_pool_id.length).toBeGreaterThanOrEqual(4);
    expect(poolConfig.workload_identity_pool_id.length).toBeLessThanOrEqual(32);
    expect(provider.workload_identity_pool_id).toMatch(/^\$\{google_iam_workload_identity_pool\.\w+\.workload_identity_pool_id\}$/);

    const [[projectId, project]] = dataSources(json, "google_project");
    expect(project.project_id).toBe(policy.project);
    expect(json.output!.member.value).toBe(
      principalSetForDigest({ projectNumber: `\${data.google_project.${projectId}.number}`, poolId: "insurance-study-tee" }, EXAMPLE_DIGEST_A),
    );
  });

  test("then the credential audience names the provider resource", () => {
    expect(json.output!.audience.value).toMatch(/^\/\/iam\.googleapis\.com\/\$\{google_iam_workload_identity_pool_provider\.\w+\.name\}$/);
  });

  test("snapshot of the pool shape, paired with the assertions above", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("ConfidentialSpacePool validation", () => {
  const build = (props: Partial<ConstructorParameters<typeof ConfidentialSpacePool>[2]>) => () =>
    synthWith((stack) => new ConfidentialSpacePool(stack, "pool", { policy, ...props }));

  test("given an explicit condition, when it is used, then it reaches the provider verbatim", () => {
    const condition = "assertion.swname == 'CONFIDENTIAL_SPACE' && assertion.submods.gce.project_id == 'acme-clean-room'";
    const json = build({ attributeCondition: condition })();
    expect(resourceConfigs(json, "google_iam_workload_identity_pool_provider")[0].attribute_condition).toBe(condition);
  });

  test("given an empty condition, then it is refused (it would admit every Confidential Space token)", () => {
    expect(build({ attributeCondition: "  " })).toThrow(
      "attributeCondition is empty: the provider would accept every Confidential Space token, from any project and any image. " +
        "Omit attributeCondition to use the one compiled from the policy.",
    );
  });

  test("given a condition over 4096 characters, then Google's limit is named", () => {
    const condition = `assertion.swname == '${"x".repeat(4100)}'`;
    expect(build({ attributeCondition: condition })).toThrow(
      `attributeCondition is ${condition.length} characters; Google's limit is 4096. Shorten the expression.`,
    );
  });

  test("given a pool ID that breaks Google's rule, then the rule is named", () => {
    expect(build({ poolId: "gcp-pool" })).toThrow(
      'poolId "gcp-pool" is invalid: Workload identity pool ID: 4-32 lowercase letters, digits, hyphens; not gcp-.',
    );
    expect(build({ poolId: "abc" })).toThrow('poolId "abc" is invalid');
  });

  test("given a malformed digest, then principalSetForDigest refuses it", () => {
    expect(() =>
      synthWith((stack) => new ConfidentialSpacePool(stack, "pool", { policy }).principalSetForDigest("sha256:abc")),
    ).toThrow('imageDigest "sha256:abc" is not an image digest. Pass "sha256:" followed by 64 lowercase hex digits.');
  });
});
