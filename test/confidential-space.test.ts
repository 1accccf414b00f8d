import { Token } from "cdktf";
import { checkContext, checkTerraform } from "../lib/checks";
import { ConfidentialSpaceWorkload, ConfidentialSpaceWorkloadProps } from "../lib/constructs/data-plane/confidential-space";
import { CleanRoomPolicy } from "../lib/policy/model";
import { manateeContract } from "../lib/policy/names";
import { EXAMPLE_DIGEST_A, SynthJson, dataSources, examplePolicy, iamGrants, resourceConfigs, resources, synthWith, grantsOn } from "./util";

const policy = examplePolicy();
const contract = manateeContract(policy.name, policy.project);

function synthWorkload(
  props: Partial<ConfidentialSpaceWorkloadProps> = {},
  then?: (w: ConfidentialSpaceWorkload) => void,
  withPolicy: CleanRoomPolicy = policy,
): SynthJson {
  return synthWith((stack) => {
    const w = new ConfidentialSpaceWorkload(stack, "tee", { policy: withPolicy, ...props });
    then?.(w);
  });
}

describe("ConfidentialSpaceWorkload (production)", () => {
  let json: SynthJson;
  let template: any;
  let saId: string;
  let workload!: ConfidentialSpaceWorkload;

  beforeAll(() => {
    json = synthWorkload({}, (w) => {
      workload = w;
      w.grantImagePull({ repositoryId: contract.userImagesRepository, location: "us-central1" });
      w.grantActAs("serviceAccount:dcr-insurance-study-pod-sa@acme-clean-room.iam.gserviceaccount.com");
    });
    [template] = resourceConfigs(json, "google_compute_instance_template");
    [[saId]] = resources(json, "google_service_account");
  });

  test("given the example policy, the TEE service account is exactly the one ManaTEE's reconciler attaches", () => {
    const [sa] = resourceConfigs(json, "google_service_account");
    expect(sa.account_id).toBe(contract.teeServiceAccountId);
    expect(sa.account_id).toBe("dcr-insurance-study-cvm-sa");
  });

  test("then its project roles are only workloadUser and logWriter, and it holds no storage or KMS role anywhere", () => {
    const project = resourceConfigs(json, "google_project_iam_member");
    expect(project.map((g) => g.role).sort()).toEqual(["roles/confidentialcomputing.workloadUser", "roles/logging.logWriter"]);
    for (const g of project) expect(g.member).toBe(`\${google_service_account.${saId}.member}`);
    const teeGrants = iamGrants(json).filter((g) => g.member.includes(`google_service_account.${saId}.`));
    expect(teeGrants.filter((g) => /^roles\/(storage|cloudkms)\./.test(g.role))).toEqual([]);
  });

  test("then image pull is reader on that one repository, and actAs is scoped to the TEE account", () => {
    const [pull] = resourceConfigs(json, "google_artifact_registry_repository_iam_member");
    expect(pull).toMatchObject({
      repository: "dcr-insurance-study-user-images",
      location: "us-central1",
      role: "roles/artifactregistry.reader",
      member: `\${google_service_account.${saId}.member}`,
    });
    const [actAs] = grantsOn(json, "google_service_account");
    expect(actAs).toMatchObject({ role: "roles/iam.serviceAccountUser", service_account_id: `\${google_service_account.${saId}.name}` });
    expect(resources(json, "google_project_iam_member").some(([, g]) => g.role === "roles/iam.serviceAccountUser")).toBe(false);
  });

  test("then the template boots the production Confidential Space image family", () => {
    const [[imageId, image]] = dataSources(json, "google_compute_image");
    expect(image).toEqual({ project: "confidential-space-images", family: "confidential-space" });
    expect(template.disk).toHaveLength(1);
    expect(template.disk[0]).toMatchObject({ boot: true, auto_delete: true, source_image: `\${data.google_compute_image.${imageId}.self_link}` });
  });

  test("then the VM is a TDX confidential VM with Secure Boot, vTPM, integrity monitoring and TERMINATE on maintenance", () => {
    expect(template.machine_type).toBe(policy.tee.machineType);
    expect(template.confidential_instance_config).toEqual({ confidential_instance_type: "TDX" });
    expect(template.shielded_instance_config).toEqual({ enable_secure_boot: true, enable_vtpm: true, enable_integrity_monitoring: true });
    expect(template.scheduling).toMatchObject({ on_host_maintenance: "TERMINATE", automatic_restart: false, preemptible: false });
  });

  test("then it runs as the TEE account with cloud-platform scope, with no external IP, on the TEE subnetwork (no NAT)", () => {
    expect(template.service_account).toEqual({ email: `\${google_service_account.${saId}.email}`, scopes: ["cloud-platform"] });
    expect(template.network_interface).toHaveLength(1);
    expect(template.network_interface[0].access_config).toBeUndefined();
    expect(template.network_interface[0].ipv6_access_config).toBeUndefined();
    expect(template.network_interface[0].subnetwork).toBe(
      "projects/acme-clean-room/regions/us-central1/subnetworks/dcr-insurance-study-tee-subnetwork",
    );
    expect(template.can_ip_forward).toBe(false);
    // The network's deny-by-default firewall lets TEEs out only by this tag.
    expect(template.tags).toEqual(["tee-instance"]);
  });

  test("then the metadata carries the production defaults and no debug switch", () => {
    // A job runs once; container logs stay in the TEE (the redirect key exists only in debug templates).
    expect(template.metadata).toEqual({
      "tee-restart-policy": "Never",
      "serial-port-enable": "FALSE",
    });
    expect(template.labels).toEqual({ "managed-by": "manatee-cdktf", "clean-room": "insurance-study", component: "tee-workload" });
    expect(template.lifecycle).toEqual({ create_before_destroy: true });
    expect(template.name_prefix).toBe("dcr-insurance-study-tee-");
    expect(workload.templateNamePrefix).toBe("dcr-insurance-study-tee-");
    // The job service's config names the template by this reference (its `id`: projects/P/global/instanceTemplates/NAME).
    expect(Token.isUnresolved(workload.instanceTemplateId)).toBe(true);
  });

  test("snapshot of the production workload, paired with the assertions above", () => {
    const { terraform, ...rest } = json;
    expect(rest).toMatchSnapshot();
  });
});

describe("ConfidentialSpaceWorkload options and validation", () => {
  const debugPolicy = examplePolicy({ tee: { hardware: ["GCP_INTEL_TDX"], machineType: "c3-standard-8", allowDebug: true } });
  const sevPolicy = examplePolicy({ tee: { hardware: ["GCP_AMD_SEV"], machineType: "n2d-standard-4", allowDebug: false } });
  const templateOf = (json: SynthJson) => resourceConfigs(json, "google_compute_instance_template")[0];

  test("given debugImage without tee.allowDebug, then the debug image is refused with the fix", () => {
    expect(() => synthWorkload({ debugImage: true })).toThrow(
      "debugImage is true but the policy's tee.allowDebug is false. Debug images give operators a root shell in the TEE; " +
        "set tee.allowDebug: true (non-production rooms only), or remove debugImage.",
    );
  });

  test("given debugImage with tee.allowDebug, then the debug family boots and container logs are redirected", () => {
    const json = synthWorkload({ debugImage: true }, undefined, debugPolicy);
    expect(dataSources(json, "google_compute_image")[0][1].family).toBe("confidential-space-debug");
    expect(templateOf(json).metadata["tee-container-log-redirect"]).toBe("true");
  });

  test("given allowDebug alone (a non-production room), then the debug family is the default; debugImage: false keeps production", () => {
    const json = synthWorkload({}, undefined, debugPolicy);
    expect(dataSources(json, "google_compute_image")[0][1].family).toBe("confidential-space-debug");
    expect(templateOf(json).metadata["tee-container-log-redirect"]).toBe("true");
    const production = synthWorkload({ debugImage: false }, undefined, debugPolicy);
    expect(dataSources(production, "google_compute_image")[0][1].family).toBe("confidential-space");
    expect(templateOf(production).metadata["tee-container-log-redirect"]).toBeUndefined();
  });

  test("given the synthesized production template tampered to boot the debug family, then the guardrails refuse it (MCR-TEE1)", () => {
    const json = synthWorkload();
    expect(checkTerraform(json as any, checkContext({ policy })).filter((f) => f.level === "error")).toEqual([]);
    const [[imageId]] = dataSources(json, "google_compute_image");
    json.data!.google_compute_image[imageId].family = "confidential-space-debug";
    const errors = checkTerraform(json as any, checkContext({ policy })).filter((f) => f.level === "error");
    expect(errors.map((f) => f.ruleId)).toContain("MCR-TEE1");
  });

  test("given the template tampered without Secure Boot, then the guardrails refuse it (MCR-TEE3)", () => {
    const json = synthWorkload();
    const [[id]] = resources(json, "google_compute_instance_template");
    json.resource!.google_compute_instance_template[id].shielded_instance_config.enable_secure_boot = false;
    expect(checkTerraform(json as any, checkContext({ policy })).filter((f) => f.level === "error").map((f) => f.ruleId)).toContain("MCR-TEE3");
  });

  test("given an SEV policy, then the template is an SEV confidential VM on the policy's machine type", () => {
    const template = templateOf(synthWorkload({}, undefined, sevPolicy));
    expect(template.confidential_instance_config).toEqual({ confidential_instance_type: "SEV" });
    expect(template.machine_type).toBe("n2d-standard-4");
  });

  test("given an instance type whose hwmodel the policy does not allow, then the mismatch is named", () => {
    expect(() => synthWorkload({ confidentialInstanceType: "SEV" })).toThrow(
      'confidentialInstanceType "SEV" yields tokens with hwmodel GCP_AMD_SEV or GCP_AMD_SEV_ES, which tee.hardware ' +
        "[GCP_INTEL_TDX] does not allow, so the workload identity provider would reject every job. " +
        "Add the hardware to tee.hardware, or choose a matching confidentialInstanceType.",
    );
    expect(() => synthWorkload({ confidentialInstanceType: "SEV_SNP" as any })).toThrow(
      'confidentialInstanceType "SEV_SNP" is not supported by Confidential Space. Use "TDX" or "SEV".',
    );
  });

  test("given a debug switch in production metadata, then it is refused", () => {
    expect(() => synthWorkload({ metadata: { "tee-container-log-redirect": "true" } })).toThrow(
      'metadata "tee-container-log-redirect: true" is a debug switch and this is a production workload. ' +
        "Remove it; debug settings need debugImage: true and tee.allowDebug in the policy.",
    );
    expect(() => synthWorkload({ metadata: { "serial-port-enable": "TRUE" } })).toThrow(
      'metadata "serial-port-enable: TRUE" is a debug switch',
    );
    expect(() => synthWorkload({ metadata: { "startup-script": "curl evil" } })).toThrow(
      'metadata key "startup-script" is not a Confidential Space launcher key. Only "tee-*" keys are honoured by the launcher.',
    );
  });

  test("given launcher metadata and a digest-pinned image, then both reach the template", () => {
    const ref = `us-docker.pkg.dev/acme-clean-room/dcr-insurance-study-user-images/job@${EXAMPLE_DIGEST_A}`;
    const template = templateOf(synthWorkload({ imageReference: ref, metadata: { "tee-env-EXECUTION_STAGE": "2" } }));
    expect(template.metadata).toMatchObject({ "tee-image-reference": ref, "tee-env-EXECUTION_STAGE": "2" });
  });

  test("given an image by tag, then digest pinning is asked for", () => {
    expect(() => synthWorkload({ imageReference: "us-docker.pkg.dev/p/r/job:latest" })).toThrow(
      'imageReference "us-docker.pkg.dev/p/r/job:latest" is not pinned by digest. Use "REPOSITORY@sha256:<64 hex digits>": ' +
        "approvals name image digests, and a tag can move.",
    );
    expect(() => synthWorkload({ metadata: { "tee-image-reference": "x" } })).toThrow(
      'metadata "tee-image-reference" is not allowed here; use the imageReference prop (digest-pinned).',
    );
  });

  test("given a zone or subnetwork outside the residency set, then the residency set is named", () => {
    expect(() => synthWorkload({ zone: "europe-west4-a" })).toThrow(
      'zone "europe-west4-a" lies outside the residency set [us-central1].',
    );
    expect(() => synthWorkload({ subnetwork: "projects/p/regions/us-east1/subnetworks/s" })).toThrow(
      'subnetwork region "us-east1" lies outside the residency set [us-central1].',
    );
  });

  test("given the public as actAs member, then it is refused", () => {
    expect(() => synthWorkload({}, (w) => w.grantActAs("allUsers"))).toThrow('member "allUsers" would make clean-room data public.');
  });
});
