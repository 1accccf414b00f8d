import { JOB_SERVICE_CONFIG_VERSION, parseJobServiceConfig } from "../../job-service/src/config";
import { ATTRIBUTE_MAPPING, JOB_APPROVAL_ATTRIBUTE_MAPPING, compileAttributeCondition, compileJobApprovalCondition } from "../../lib/policy/condition";
import {
  COMPILED_JOB_SERVICE_CONFIG_VERSION,
  JobServiceConfigCompileError,
  JobServiceDeployment,
  compileJobServiceConfig,
} from "../../lib/policy/job-service-config";
import { EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B, examplePolicy } from "../util";
import { FINGERPRINT_A, noApproverKeys } from "./job-fixtures";

const deployment: JobServiceDeployment = {
  instanceTemplate: "projects/acme-clean-room/global/instanceTemplates/insurance-study-tee-20250101",
  userImagesRepository: "us-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images",
  verifierUrl: "https://verifier.acme-clean-room.example.org",
  quarantineBucket: "acme-clean-room-insurance-study-quarantine",
  releaseBucket: "acme-clean-room-insurance-study-release",
};
const BASE = `sha256:${"b".repeat(64)}`;

describe("compileJobServiceConfig", () => {
  const policy = examplePolicy({
    datasets: { ...Object.fromEntries(examplePolicy().datasets.map((d) => [d.name, d])), insurance: { ...examplePolicy().datasets[0], approverKey: { fingerprint: FINGERPRINT_A } } },
    jobs: { executorBases: [BASE], executorBase: `us-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images/manatee-executor-base@${BASE}`, timeoutMinutes: 120 },
  });
  const config = compileJobServiceConfig(policy, deployment);

  test("given the example room, then the job service's own parser accepts the compiled config", () => {
    expect(parseJobServiceConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
    expect(COMPILED_JOB_SERVICE_CONFIG_VERSION).toBe(JOB_SERVICE_CONFIG_VERSION);
  });

  test("given a dataset with an approver key, then its access lists the standing path per digest and the job path, conditions verbatim", () => {
    const insurance = config.datasets.find((d) => d.name === "insurance")!;
    expect(insurance.approverKey).toEqual({ algorithm: "ECDSA_P256_SHA256", fingerprint: FINGERPRINT_A });
    expect(insurance.signatureRepository).toBe("us-central1-docker.pkg.dev/acme-clean-room/insurance-study-insurance-approvals");
    expect(insurance.standingApprovals).toEqual([EXAMPLE_DIGEST_A, EXAMPLE_DIGEST_B]);
    expect(insurance.access).toEqual([
      {
        kind: "standing",
        pool: "insurance-study-tee",
        provider: "attestation-verifier",
        principal: { kind: "attribute", attribute: "image_digest", value: EXAMPLE_DIGEST_A },
        notAfter: "2027-02-01T00:00:00Z",
      },
      {
        kind: "standing",
        pool: "insurance-study-tee",
        provider: "attestation-verifier",
        principal: { kind: "attribute", attribute: "image_digest", value: EXAMPLE_DIGEST_B },
      },
      {
        kind: "job",
        pool: "insurance-study-insurance-jobs",
        provider: "attestation-verifier",
        principal: { kind: "group", value: "job-approved" },
      },
    ]);
    // Each provider's condition and mapping, verbatim, once for the whole room.
    expect(config.providers).toEqual({
      "insurance-study-tee/attestation-verifier": { attributeCondition: compileAttributeCondition(policy), attributeMapping: ATTRIBUTE_MAPPING },
      "insurance-study-insurance-jobs/attestation-verifier": {
        attributeCondition: compileJobApprovalCondition(policy, "insurance"),
        attributeMapping: JOB_APPROVAL_ATTRIBUTE_MAPPING,
      },
    });
  });

  test("given a dataset without an approver key, then it has no approverKey and only standing paths", () => {
    const claims = config.datasets.find((d) => d.name === "claims")!;
    expect(claims.approverKey).toBeUndefined();
    expect(claims.access.map((a) => a.kind)).toEqual(["standing"]);
  });

  test("given the policy's job settings, then launch, images and limits carry them", () => {
    expect(config.launch).toEqual({
      instanceTemplate: deployment.instanceTemplate,
      instancePrefix: "insurance-study-job",
      machineType: "c3-standard-8",
      hardware: ["GCP_INTEL_TDX"],
      allowDebug: false,
      teeServiceAccount: "dcr-insurance-study-cvm-sa@acme-clean-room.iam.gserviceaccount.com",
      allowedEnvOverrides: [],
      timeoutMinutes: 120,
    });
    expect(config.images.executorBases).toEqual([BASE]);
    expect(config.images.defaultExecutorBase).toMatch(/@sha256:b{64}$/);
    expect(config.images.workspaceDir).toBe("/workspace");
    expect(config.limits).toEqual({ maxJobsInProgressPerResearcher: 3, maxWorkspaceBytes: 256 * 1024 * 1024 });
    expect(config.verifier).toEqual({ url: deployment.verifierUrl, audience: policy.verifier.audience });
  });

  test("given the hub's user map, then researchers are its usernames; with GitHub organizations or no hub, any hub user", () => {
    expect(config.researchers).toEqual(["alice", "bob"]);
    expect(compileJobServiceConfig(examplePolicy({ jupyterhub: undefined }), deployment).researchers).toEqual([]);
    const github = examplePolicy({
      jupyterhub: {
        authenticator: { type: "github", clientId: "x", clientSecret: "s", callbackUrl: "https://h.example.org/hub/oauth_callback", allowedOrganizations: ["acme"] },
        users: { alice: "alice" },
      },
    });
    expect(compileJobServiceConfig(github, deployment).researchers).toEqual([]);
  });

  test("given a room without approver keys, then the job service's parser still accepts it (per-job approval off)", () => {
    const plain = compileJobServiceConfig(noApproverKeys(), deployment);
    expect(plain.datasets.every((d) => d.approverKey === undefined)).toBe(true);
    expect(() => parseJobServiceConfig(plain)).not.toThrow();
  });

  test.each([
    ["instanceTemplate", { instanceTemplate: "insurance-study-tee" }, /deployment\.instanceTemplate: expected the room's instance template/],
    ["instancePrefix", { instancePrefix: "Job_" }, /deployment\.instancePrefix/],
    ["userImagesRepository", { userImagesRepository: "gcr.io/x" }, /deployment\.userImagesRepository: expected <location>-docker\.pkg\.dev/],
    ["verifierUrl", { verifierUrl: "http://verifier" }, /deployment\.verifierUrl: expected the verifier's https/],
    ["releaseBucket", { releaseBucket: deployment.quarantineBucket }, /deployment\.releaseBucket: expected a bucket other than quarantineBucket/],
    ["workspaceDir", { workspaceDir: "workspace/" }, /deployment\.workspaceDir/],
  ])("given a bad %s, then compiling names the field and what it expects", (_field, patch, message) => {
    expect(() => compileJobServiceConfig(policy, { ...deployment, ...patch })).toThrow(JobServiceConfigCompileError);
    expect(() => compileJobServiceConfig(policy, { ...deployment, ...patch })).toThrow(message);
  });
});
