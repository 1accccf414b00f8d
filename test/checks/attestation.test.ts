/**
 * MCR-WIF1 (attribute condition, judged with a real CEL engine), MCR-TEE1 (the TEE VM),
 * MCR-APR1/APR2 (approvals). The WIF tests pair each verdict of the rule with what
 * @bufbuild/cel says the condition really does on real-shaped Confidential Space tokens.
 */
import { TerraformStack } from "cdktf";
import { run, isCelError } from "@bufbuild/cel";
import { ComputeInstance } from "@cdktf/provider-google/lib/compute-instance";
import { ComputeInstanceTemplate, ComputeInstanceTemplateConfig } from "@cdktf/provider-google/lib/compute-instance-template";
import { DataGoogleComputeImage } from "@cdktf/provider-google/lib/data-google-compute-image";
import { IamWorkloadIdentityPoolProvider } from "@cdktf/provider-google/lib/iam-workload-identity-pool-provider";
import { KmsCryptoKeyIamMember } from "@cdktf/provider-google/lib/kms-crypto-key-iam-member";
import { ATTRIBUTE_MAPPING, compileAttributeCondition } from "../../lib/policy/condition";
import { manateeContract } from "../../lib/policy/names";
import { normalizePolicy } from "../../lib/policy/model";
import { EXAMPLE_DIGEST_A, examplePolicy } from "../util";
import { attested, check, errors, of } from "./harness";

const policy = examplePolicy();
const teeSa = manateeContract(policy.name, policy.project).teeServiceAccountEmail;

/** A production Confidential Space token on TDX (reference/confidential-space.md §6, EIGENX shape) in the example room. */
const PRODUCTION_TOKEN = {
  iss: "https://confidentialcomputing.googleapis.com",
  aud: "https://sts.googleapis.com",
  secboot: true,
  hwmodel: "GCP_INTEL_TDX",
  swname: "CONFIDENTIAL_SPACE",
  swversion: ["250800"],
  dbgstat: "disabled-since-boot",
  google_service_accounts: [teeSa],
  submods: {
    confidential_space: { monitoring_enabled: { memory: false }, support_attributes: ["LATEST", "STABLE", "USABLE"] },
    container: { image_digest: EXAMPLE_DIGEST_A, restart_policy: "Never" },
    gce: { zone: "us-central1-a", project_id: "acme-clean-room", project_number: "123456789012", instance_id: "8114146583384593350" },
  },
};
/** The same VM on the debug image: dbgstat enabled, no support attributes. */
const DEBUG_TOKEN = { ...PRODUCTION_TOKEN, dbgstat: "enabled", submods: { ...PRODUCTION_TOKEN.submods, confidential_space: { monitoring_enabled: { memory: false } } } };
/** A production image that fell out of support (USABLE only). */
const UNSUPPORTED_TOKEN = { ...PRODUCTION_TOKEN, submods: { ...PRODUCTION_TOKEN.submods, confidential_space: { support_attributes: ["USABLE"] } } };

function admits(condition: string, token: object): boolean {
  const r = run(condition, { assertion: token as never });
  return !isCelError(r) && r === true;
}

const provider = (condition: string | undefined, issuerUri = "https://confidentialcomputing.googleapis.com/") => (s: TerraformStack) => {
  new IamWorkloadIdentityPoolProvider(s, "provider", {
    workloadIdentityPoolId: "acme-pool",
    workloadIdentityPoolProviderId: "attestation-verifier",
    attributeCondition: condition,
    attributeMapping: { ...ATTRIBUTE_MAPPING },
    oidc: { issuerUri, allowedAudiences: ["https://sts.googleapis.com"] },
  });
};

describe("MCR-WIF1 attribute condition", () => {
  const compiled = compileAttributeCondition(policy);

  test("given the compiled condition, then the rule passes it and CEL confirms it admits production and rejects debug", () => {
    expect(errors(check(provider(compiled), { policy }).findings)).toEqual([]);
    expect(admits(compiled, PRODUCTION_TOKEN)).toBe(true);
    expect(admits(compiled, DEBUG_TOKEN)).toBe(false);
    expect(admits(compiled, UNSUPPORTED_TOKEN)).toBe(false);
  });

  test("given no condition, then an error: every token of the issuer would be accepted", () => {
    const [f] = of(check(provider(undefined)).findings, "MCR-WIF1");
    expect(f.message).toMatch(/^The provider has no attribute_condition, so Google accepts every valid token of its issuer/);
  });

  test("given STABLE made optional by ||, then the rule fails it — and CEL shows an unsupported image gets in", () => {
    const weakened = compiled.replace(
      "'STABLE' in assertion.submods.confidential_space.support_attributes",
      "('STABLE' in assertion.submods.confidential_space.support_attributes || assertion.submods.gce.project_id == 'acme-clean-room')",
    );
    expect(admits(weakened, UNSUPPORTED_TOKEN)).toBe(true);
    const messages = of(check(provider(weakened)).findings, "MCR-WIF1").map((f) => f.message);
    expect(messages).toEqual([
      "attribute_condition does not require 'STABLE' in assertion.submods.confidential_space.support_attributes (the image is a supported production release; debug images carry no support attributes). It must be a top-level && clause on its own: a clause under || or combined with other claims lets tokens through without it. Add \"&& 'STABLE' in assertion.submods.confidential_space.support_attributes\".",
    ]);
  });

  test("given swname || dbgstat, then both are reported — and CEL shows the debug token gets in", () => {
    const weak = "assertion.swname == 'CONFIDENTIAL_SPACE' || assertion.dbgstat == 'disabled-since-boot'";
    expect(admits(weak, DEBUG_TOKEN)).toBe(true);
    const messages = of(check(provider(weak)).findings, "MCR-WIF1").map((f) => f.message.split(" (")[0]);
    expect(messages).toEqual([
      "attribute_condition does not require assertion.swname == 'CONFIDENTIAL_SPACE'",
      "attribute_condition does not require 'STABLE' in assertion.submods.confidential_space.support_attributes",
      "attribute_condition does not require assertion.dbgstat == 'disabled-since-boot'",
    ]);
  });

  test("given equivalent spellings (parentheses, double quotes, reversed operands, .all()), then they count", () => {
    const equivalent =
      '(assertion.swname == "CONFIDENTIAL_SPACE" && "disabled-since-boot" == assertion.dbgstat) && ' +
      "['STABLE'].all(a, a in assertion.submods.confidential_space.support_attributes)";
    expect(admits(equivalent, PRODUCTION_TOKEN)).toBe(true);
    expect(of(check(provider(equivalent)).findings, "MCR-WIF1")).toEqual([]);
  });

  test("given a clause that rejects production tokens too (a typo), then it does not count", () => {
    const typo = compiled.replace("'disabled-since-boot'", "'disabled_since_boot'");
    expect(admits(typo, PRODUCTION_TOKEN)).toBe(false);
    expect(of(check(provider(typo)).findings, "MCR-WIF1")[0].message).toContain("does not require assertion.dbgstat == 'disabled-since-boot'");
  });

  test("given debug allowed by the policy, then only the swname clause is required", () => {
    const debugPolicy = examplePolicy({ tee: { hardware: ["GCP_INTEL_TDX"], allowDebug: true } });
    const debugCondition = compileAttributeCondition(debugPolicy);
    expect(admits(debugCondition, DEBUG_TOKEN)).toBe(true);
    expect(of(check(provider(debugCondition), { policy: debugPolicy }).findings, "MCR-WIF1")).toEqual([]);
    expect(of(check(provider(debugCondition), { policy }).findings, "MCR-WIF1")).toHaveLength(2);
  });

  test("given a condition that is not CEL, then an error quoting the parser", () => {
    expect(of(check(provider("assertion.swname == ")).findings, "MCR-WIF1")[0].message).toMatch(/^attribute_condition is not valid CEL \(/);
  });

  test("given a GitHub provider with a condition, then the Confidential Space clauses do not apply", () => {
    const gh = provider("assertion.repository_owner == 'acme'", "https://token.actions.githubusercontent.com");
    expect(of(check(gh).findings, "MCR-WIF1")).toEqual([]);
    expect(of(check(provider(undefined, "https://token.actions.githubusercontent.com")).findings, "MCR-WIF1")).toHaveLength(1);
  });

  test("given a condition overridden by an escape hatch, then the override is checked", () => {
    const { findings } = check((s) => {
      provider(compiled)(s);
      (s.node.findChild("provider") as IamWorkloadIdentityPoolProvider).addOverride("attribute_condition", "assertion.swname == 'CONFIDENTIAL_SPACE'");
    });
    expect(of(findings, "MCR-WIF1")).toHaveLength(2);
  });
});

/* ------------------------------------------------------------------ TEE VMs */

function template(s: TerraformStack, family: string, overrides: Partial<ComputeInstanceTemplateConfig> = {}) {
  const image = new DataGoogleComputeImage(s, "image", { family, project: "confidential-space-images" });
  return new ComputeInstanceTemplate(s, "tee", {
    machineType: "c3-standard-8",
    disk: [{ sourceImage: image.selfLink, boot: true, autoDelete: true }],
    networkInterface: [{ network: "default" }],
    confidentialInstanceConfig: { confidentialInstanceType: "TDX" },
    shieldedInstanceConfig: { enableSecureBoot: true },
    scheduling: { onHostMaintenance: "TERMINATE" },
    metadata: { "tee-image-reference": `us-docker.pkg.dev/acme/img@${EXAMPLE_DIGEST_A}` },
    ...overrides,
  });
}

describe("MCR-TEE1 Confidential Space VMs", () => {
  test("given a production template, then no finding", () => {
    expect(errors(check((s) => template(s, "confidential-space")).findings)).toEqual([]);
  });

  test("given the debug family while debug is not allowed, then an error; allowed by the policy, then none", () => {
    const [f] = of(check((s) => template(s, "confidential-space-debug")).findings, "MCR-TEE1");
    expect(f.message).toMatch(/^The VM boots the debug image data.google_compute_image.image \(confidential-space-debug\): the operator gets a root shell/);
    const debugPolicy = examplePolicy({ tee: { allowDebug: true } });
    expect(of(check((s) => template(s, "confidential-space-debug"), { policy: debugPolicy }).findings, "MCR-TEE1")).toEqual([]);
  });

  test("given no confidential computing and Secure Boot turned off by an escape hatch, then two errors", () => {
    const { findings } = check((s) => {
      const t = template(s, "confidential-space", { confidentialInstanceConfig: undefined });
      t.addOverride("shielded_instance_config.enable_secure_boot", false);
    });
    // One check per rule id: confidential computing is MCR-TEE2, Secure Boot MCR-TEE3.
    expect(of(findings, "MCR-TEE1")).toEqual([]);
    expect(of(findings, "MCR-TEE2").map((f) => f.message.split(" (")[0])).toEqual(["The VM has no confidential computing"]);
    expect(of(findings, "MCR-TEE3").map((f) => f.message.split(":")[0])).toEqual(["Secure Boot is off"]);
  });

  test("given an instance booting a literal debug image link, then an error", () => {
    const { findings } = check((s) => {
      new ComputeInstance(s, "vm", {
        name: "tee-1",
        zone: "us-central1-a",
        machineType: "c3-standard-8",
        bootDisk: { initializeParams: { image: "https://www.googleapis.com/compute/v1/projects/confidential-space-images/global/images/confidential-space-debug-250800" } },
        networkInterface: [{ network: "default" }],
        confidentialInstanceConfig: { enableConfidentialCompute: true, confidentialInstanceType: "TDX" },
        shieldedInstanceConfig: { enableSecureBoot: true },
      });
    });
    expect(of(findings, "MCR-TEE1")).toHaveLength(1);
  });

  test("given tee-* metadata on a plain Debian VM, then an error (no attestation at all); a plain VM without it is ignored", () => {
    const vm = (metadata?: Record<string, string>) => (s: TerraformStack) => {
      new ComputeInstance(s, "vm", {
        name: "bastion",
        zone: "us-central1-a",
        machineType: "e2-small",
        bootDisk: { initializeParams: { image: "debian-cloud/debian-12" } },
        networkInterface: [{ network: "default" }],
        metadata,
      });
    };
    expect(of(check(vm({ "tee-image-reference": "x" })).findings, "MCR-TEE1")[0].message).toContain("which is not a Confidential Space image");
    expect(of(check(vm()).findings, "MCR-TEE1")).toEqual([]);
  });
});

/* ---------------------------------------------------------------- approvals */

describe("MCR-APR1 expired approvals", () => {
  const grant = (expression: string) => (s: TerraformStack) => {
    new KmsCryptoKeyIamMember(s, "tee", {
      cryptoKeyId: "projects/acme-clean-room/locations/us-central1/keyRings/r/cryptoKeys/k",
      role: "roles/cloudkms.cryptoKeyDecrypter",
      member: attested(EXAMPLE_DIGEST_A),
      condition: { title: "approval", expression },
    });
  };

  test("given an IAM condition whose end has passed, then a warning; still running, then none", () => {
    const cond = 'request.time < timestamp("2027-02-01T00:00:00Z")';
    const late = check(grant(cond), { now: new Date("2027-03-01T00:00:00Z") }).findings;
    expect(of(late, "MCR-APR1", "warning")[0].message).toContain('is conditioned on request.time < 2027-02-01T00:00:00Z, which has passed: the grant is inert');
    expect(errors(late)).toEqual([]);
    expect(of(check(grant(cond), { now: new Date("2027-01-31T23:59:59Z") }).findings, "MCR-APR1", "warning")).toEqual([]);
  });

  test("given a policy approval past its last day, then a warning on the Confidential Space provider", () => {
    // Approval A holds through 2027-01-31 (UTC).
    const compiled = compileAttributeCondition(policy);
    const at = (iso: string) => of(check(provider(compiled), { policy, now: new Date(iso) }).findings, "MCR-APR1", "warning");
    expect(at("2027-01-31T23:59:59Z")).toEqual([]);
    expect(at("2027-02-01T00:00:00Z").map((f) => f.message)).toEqual([
      `The approval of ${EXAMPLE_DIGEST_A} for [insurance] ("XGBoost regression of insurance charges", approved by owner@example.org) expired at the end of 2027-01-31. Remove it from the policy, or renew it with a new expiry.`,
    ]);
  });
});

describe("MCR-APR2 full image digests", () => {
  test("given a principal set naming a short digest, then an error", () => {
    const { findings } = check((s) => {
      new KmsCryptoKeyIamMember(s, "tee", { cryptoKeyId: "projects/p/locations/l/keyRings/r/cryptoKeys/k", role: "roles/cloudkms.cryptoKeyDecrypter", member: attested("sha256:1580f84f") });
    });
    expect(of(findings, "MCR-APR2")[0].message).toContain('names the image "sha256:1580f84f", which is not a full digest, so no attestation token will ever match it');
  });

  test("given a policy approval with an upper-case digest, then an error on the provider", () => {
    const bad = normalizePolicy({ ...policy, parties: undefined, datasets: { insurance: { stage1: { kind: "none" } } }, approvals: [{ ...policy.approvals[0], imageDigest: EXAMPLE_DIGEST_A.toUpperCase() }] });
    const { findings } = check(provider(compileAttributeCondition(policy)), { policy: bad });
    expect(of(findings, "MCR-APR2")[0].message).toMatch(/^The policy approves "SHA256:1580F84F.*" for \[insurance\], which is not a full image digest/);
  });

  test("given full digests, then none", () => {
    const { findings } = check((s) => {
      provider(compileAttributeCondition(policy))(s);
      new KmsCryptoKeyIamMember(s, "tee", { cryptoKeyId: "projects/p/locations/l/keyRings/r/cryptoKeys/k", role: "roles/cloudkms.cryptoKeyDecrypter", member: attested(EXAMPLE_DIGEST_A) });
    }, { policy });
    expect(of(findings, "MCR-APR2")).toEqual([]);
  });
});
