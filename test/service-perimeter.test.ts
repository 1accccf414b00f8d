/**
 * The optional VPC Service Controls perimeter (`vpcServiceControls` in the room file) on the
 * synthesized platform stack: without it (the example room) there is no perimeter and Google APIs
 * resolve to private.googleapis.com; with it, a perimeter around the project restricts the five
 * services, and DNS and the TEE firewall switch to restricted.googleapis.com. Both pass the guardrails.
 */
import * as path from "node:path";
import { Testing } from "cdktf";
import { createCleanRoomStacks } from "../stacks";
import { stacksOptionsFromPolicy } from "../stacks/config";
import { CleanRoom } from "../lib/constructs/clean-room";
import { CleanRoomServicePerimeter } from "../lib/constructs/platform/service-perimeter";
import { CleanRoomPolicy, VPC_SC_RESTRICTED_SERVICES } from "../lib/policy/model";
import { SynthJson, dataSources, examplePolicy, resourceConfigs, resources, synthStack, synthWith } from "./util";

function platformOf(policy: CleanRoomPolicy): { json: SynthJson; room: CleanRoom } {
  const options = stacksOptionsFromPolicy(policy);
  const stacks = createCleanRoomStacks(Testing.app(), policy, {
    ...options,
    platform: { ...options.platform, verifier: { sourceDir: path.join(__dirname, "fixtures", "verifier-build") } },
    workloads: { ...options.workloads, imageSources: { jobService: path.join(__dirname, "fixtures", "job-service-build") } },
    // The guardrails run: a room with or without the perimeter must synthesize without errors.
    checks: true,
  });
  stacks.platform.prepareStack();
  return { json: synthStack(stacks.platform), room: stacks.platform.room };
}

const TEE_EGRESS = "dcr-insurance-study-allow-tees-egress";
const aRecords = (json: SynthJson) => resourceConfigs(json, "google_dns_record_set").filter((r) => r.type === "A");

describe("the example room, without vpcServiceControls", () => {
  let json: SynthJson;
  beforeAll(() => {
    json = platformOf(examplePolicy()).json;
  });

  test("then there is no perimeter, and Google APIs resolve to private.googleapis.com, the TEEs' only egress", () => {
    expect(resources(json, "google_access_context_manager_service_perimeter")).toHaveLength(0);
    const teeRule = resourceConfigs(json, "google_compute_firewall").find((r) => r.name === TEE_EGRESS);
    expect(teeRule).toMatchObject({ destination_ranges: ["199.36.153.8/30"], allow: [{ protocol: "tcp", ports: ["443"] }], target_tags: ["tee-instance"] });
    expect(aRecords(json).map((r) => r.name).sort()).toEqual(["cloudfunctions.net.", "gcr.io.", "googleapis.com.", "pkg.dev.", "run.app."]);
    for (const record of aRecords(json)) expect(record.rrdatas).toEqual(["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"]);
    expect(resourceConfigs(json, "google_project_service").map((s) => s.service)).not.toContain("accesscontextmanager.googleapis.com");
  });
});

describe("the example room with vpcServiceControls", () => {
  const policy = examplePolicy({ vpcServiceControls: { accessPolicy: "123456789012", accessLevels: ["deployers"] } });
  let json: SynthJson;
  let room: CleanRoom;
  beforeAll(() => {
    ({ json, room } = platformOf(policy));
  });

  test("then a regular, enforced perimeter around the project (by number) restricts storage, KMS, functions, run and Artifact Registry", () => {
    const [[, perimeter]] = resources(json, "google_access_context_manager_service_perimeter");
    const [projectId, project] = dataSources(json, "google_project").find(([id]) => id.includes("perimeter"))!;
    expect(project.project_id).toBe("acme-clean-room");
    expect(perimeter).toMatchObject({
      parent: "accessPolicies/123456789012",
      name: "accessPolicies/123456789012/servicePerimeters/manatee_insurance_study",
      title: "ManaTEE clean room insurance-study",
      perimeter_type: "PERIMETER_TYPE_REGULAR",
      status: {
        resources: [`projects/\${data.google_project.${projectId}.number}`],
        restricted_services: [
          "storage.googleapis.com",
          "cloudkms.googleapis.com",
          "cloudfunctions.googleapis.com",
          "run.googleapis.com",
          "artifactregistry.googleapis.com",
        ],
        access_levels: ["accessPolicies/123456789012/accessLevels/deployers"],
      },
    });
    expect(perimeter.use_explicit_dry_run_spec).toBeUndefined();
    expect(perimeter.spec).toBeUndefined();
    expect(room.perimeter?.restrictedServices).toEqual(VPC_SC_RESTRICTED_SERVICES);
  });

  test("then Google APIs resolve to restricted.googleapis.com and TEEs may reach only that VIP", () => {
    for (const record of aRecords(json)) expect(record.rrdatas).toEqual(["199.36.153.4", "199.36.153.5", "199.36.153.6", "199.36.153.7"]);
    const teeRule = resourceConfigs(json, "google_compute_firewall").find((r) => r.name === TEE_EGRESS);
    expect(teeRule.destination_ranges).toEqual(["199.36.153.4/30"]);
    expect(room.network.googleApiAccess).toBe("restricted");
  });

  test("then the Access Context Manager API is enabled, and the NAT still serves the GKE subnet only", () => {
    expect(resourceConfigs(json, "google_project_service").map((s) => s.service)).toContain("accesscontextmanager.googleapis.com");
    const [nat] = resourceConfigs(json, "google_compute_router_nat");
    expect(nat.subnetwork).toHaveLength(1);
    expect(nat.subnetwork[0].name).toBe(`\${google_compute_subnetwork.${resources(json, "google_compute_subnetwork").find(([, s]) => s.name === "dcr-insurance-study-subnetwork")![0]}.id}`);
  });

  test("given network.googleApiAccess private with a perimeter, then CleanRoom refuses it", () => {
    const options = stacksOptionsFromPolicy(policy);
    expect(() =>
      createCleanRoomStacks(Testing.app(), policy, {
        ...options,
        platform: { ...options.platform, network: { googleApiAccess: "private" }, verifier: { sourceDir: path.join(__dirname, "fixtures", "verifier-build") } },
        checks: false,
      }),
    ).toThrow(
      'network.googleApiAccess "private" with a vpcServiceControls perimeter: inside a perimeter Google APIs must resolve to restricted.googleapis.com. ' +
        'Remove network.googleApiAccess, or set it to "restricted".',
    );
  });
});

describe("CleanRoomServicePerimeter validation", () => {
  const room = { name: "insurance-study", project: "acme-clean-room" };
  test("given a resource name or a full access level name, then the message says what to write", () => {
    expect(() => synthWith((s) => new CleanRoomServicePerimeter(s, "p", { room, accessPolicy: "accessPolicies/1" }))).toThrow(
      'accessPolicy "accessPolicies/1" is not an access policy id. Use the numeric id alone, e.g. "123456789012" (gcloud access-context-manager policies list --organization ORG).',
    );
    expect(() => synthWith((s) => new CleanRoomServicePerimeter(s, "p", { room, accessPolicy: "1", accessLevels: ["accessPolicies/1/accessLevels/x"] }))).toThrow(
      'accessLevels entry "accessPolicies/1/accessLevels/x" is not an access level\'s short name. Use the part after accessLevels/, e.g. "deployers".',
    );
  });
});
